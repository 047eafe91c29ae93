//! The TMDB importer against a mock TMDB API on 127.0.0.1 (a hand-written HTTP/1.1 server on a
//! tokio listener answering TMDB-shaped JSON), writing into a real SQLite file in a temp dir.
//! Nothing here touches the internet.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use movietalk_core::Catalog;
use movietalk_core::catalog::ImportStats;
use movietalk_core::import::tmdb::{self, TmdbClient, TmdbReport};
use movietalk_core::import::{ImportError, Progress};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "test-key-0123456789";

// ---------------------------------------------------------------------------------------------
// The mock server.

/// A request as the mock saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: HashMap<String, String>,
}

/// What the mock answers.
enum Reply {
    Json(u16, Value),
    Raw {
        status: u16,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Accept the request and never answer (until the client hangs up).
    Hold,
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Mock {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(socket, handler.clone(), log.clone()));
            }
        });
        Mock { base, seen }
    }

    fn client(&self) -> TmdbClient {
        TmdbClient::new(KEY, &format!("{}/3", self.base))
            .unwrap()
            .with_image_base(&format!("{}/t/p/w500", self.base))
            .unwrap()
            .with_backoff(Duration::from_millis(20))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

async fn serve(mut socket: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Seen>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let seen = Seen {
        path: path.to_owned(),
        query,
    };
    log.lock().unwrap().push(seen.clone());
    let (status, content_type, headers, body) = match handler(&seen) {
        Reply::Json(status, v) => (
            status,
            "application/json;charset=utf-8",
            vec![],
            v.to_string().into_bytes(),
        ),
        Reply::Raw {
            status,
            content_type,
            headers,
            body,
        } => (status, content_type, headers, body),
        Reply::Hold => {
            // Read until the client gives up and closes the connection.
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            return;
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let _ = socket.write_all(out.as_bytes()).await;
    let _ = socket.write_all(&body).await;
    let _ = socket.shutdown().await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// `application/x-www-form-urlencoded` decoding, enough for the query strings reqwest sends.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------------------
// TMDB-shaped fixtures: four real films, their details in en-US and ko-KR.

struct Film {
    id: i64,
    en_title: &'static str,
    ko_title: &'static str,
    original_title: &'static str,
    original_language: &'static str,
    overview: &'static str,
    overview_ko: &'static str,
    release_date: &'static str,
    runtime: i64,
    imdb_id: &'static str,
    genres: &'static [(i64, &'static str)],
    poster_path: &'static str,
    popularity: f64,
    /// (name, billing order), deliberately not all in order.
    cast: &'static [(&'static str, i64)],
    /// (name, job)
    crew: &'static [(&'static str, &'static str)],
}

const PARASITE: Film = Film {
    id: 496243,
    en_title: "Parasite",
    ko_title: "기생충",
    original_title: "기생충",
    original_language: "ko",
    overview: "All unemployed, Ki-taek's family takes peculiar interest in the wealthy and glamorous Parks for their livelihood until they get entangled in an unexpected incident.",
    overview_ko: "전원 백수인 기택네 가족은 장남 기우가 박 사장네 고액 과외 선생이 되면서 부잣집과 얽히기 시작한다.",
    release_date: "2019-05-30",
    runtime: 133,
    imdb_id: "tt6751668",
    genres: &[(35, "Comedy"), (53, "Thriller"), (18, "Drama")],
    poster_path: "/7IiTTgloJzvGI1TAYymCfbfl3vT.jpg",
    popularity: 30.512,
    cast: &[
        ("Lee Sun-kyun", 1),
        ("Song Kang-ho", 0),
        ("Cho Yeo-jeong", 2),
        ("Choi Woo-shik", 3),
        ("Park So-dam", 4),
    ],
    crew: &[
        ("Bong Joon-ho", "Director"),
        ("Bong Joon-ho", "Screenplay"),
        ("Hong Kyung-pyo", "Director of Photography"),
    ],
};

const GODFATHER: Film = Film {
    id: 238,
    en_title: "The Godfather",
    ko_title: "대부",
    original_title: "The Godfather",
    original_language: "en",
    overview: "Spanning the years 1945 to 1955, a chronicle of the fictional Italian-American Corleone crime family.",
    overview_ko: "1945년부터 1955년까지 뉴욕 마피아 코를레오네 가문의 이야기.",
    release_date: "1972-03-14",
    runtime: 175,
    imdb_id: "tt0068646",
    genres: &[(18, "Drama"), (80, "Crime")],
    poster_path: "/3bhkrj58Vtu7enYsRolD1fZdja1.jpg",
    popularity: 25.114,
    cast: &[("Marlon Brando", 0), ("Al Pacino", 1), ("James Caan", 2)],
    crew: &[
        ("Francis Ford Coppola", "Director"),
        ("Mario Puzo", "Screenplay"),
    ],
};

const SPIRITED_AWAY: Film = Film {
    id: 129,
    en_title: "Spirited Away",
    ko_title: "센과 치히로의 행방불명",
    original_title: "千と千尋の神隠し",
    original_language: "ja",
    overview: "A young girl, Chihiro, becomes trapped in a strange new world of spirits.",
    overview_ko: "",
    release_date: "2001-07-20",
    runtime: 125,
    imdb_id: "tt0245429",
    genres: &[(16, "Animation"), (10751, "Family"), (14, "Fantasy")],
    poster_path: "/39wmItIWsg5sZMyRUHLkWBcuVCM.jpg",
    popularity: 18.2,
    cast: &[("Rumi Hiiragi", 0), ("Miyu Irino", 1)],
    crew: &[("Hayao Miyazaki", "Director")],
};

/// Not in the starter catalog; its ko-KR answer has no Korean translation, so TMDB falls back
/// to the original title and an empty overview.
const DUNE_TWO: Film = Film {
    id: 693134,
    en_title: "Dune: Part Two",
    ko_title: "Dune: Part Two",
    original_title: "Dune: Part Two",
    original_language: "en",
    overview: "Follow the mythic journey of Paul Atreides as he unites with Chani and the Fremen.",
    overview_ko: "",
    release_date: "2024-02-27",
    runtime: 167,
    imdb_id: "tt15239678",
    genres: &[(878, "Science Fiction"), (12, "Adventure")],
    poster_path: "/1pdfLvkbY9ohJlCjQH2CZjjYVvJ.jpg",
    popularity: 40.75,
    cast: &[("Timothée Chalamet", 0), ("Zendaya", 1)],
    crew: &[("Denis Villeneuve", "Director")],
};

const FILMS: [&Film; 4] = [&PARASITE, &GODFATHER, &SPIRITED_AWAY, &DUNE_TWO];

fn details(f: &Film, language: &str, append: Option<&str>) -> Value {
    let ko = language == "ko-KR";
    let mut v = json!({
        "adult": false,
        "id": f.id,
        "imdb_id": f.imdb_id,
        "title": if ko { f.ko_title } else { f.en_title },
        "original_title": f.original_title,
        "original_language": f.original_language,
        "overview": if ko { f.overview_ko } else { f.overview },
        "release_date": f.release_date,
        "runtime": f.runtime,
        "genres": f.genres.iter().map(|(id, name)| json!({ "id": id, "name": name })).collect::<Vec<_>>(),
        "poster_path": f.poster_path,
        "popularity": f.popularity,
        "status": "Released",
        "vote_average": 8.5,
    });
    let append = append.unwrap_or("");
    if append.split(',').any(|a| a == "credits") {
        v["credits"] = json!({
            "cast": f.cast.iter().map(|(name, order)| json!({ "name": name, "order": order, "character": "" })).collect::<Vec<_>>(),
            "crew": f.crew.iter().map(|(name, job)| json!({ "name": name, "job": job, "department": "" })).collect::<Vec<_>>(),
        });
    }
    if append.split(',').any(|a| a == "keywords") {
        v["keywords"] = json!({ "keywords": [{ "id": 1, "name": "family" }] });
    }
    v
}

fn list_page(films: &[&Film], page: u64, total_pages: u64) -> Value {
    json!({
        "page": page,
        "results": films.iter().map(|f| json!({ "id": f.id, "title": f.en_title, "popularity": f.popularity })).collect::<Vec<_>>(),
        "total_pages": total_pages,
        "total_results": 4,
    })
}

/// A few bytes that start like a JPEG, different per film.
fn poster_bytes(path: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend_from_slice(path.as_bytes());
    b
}

/// The well-behaved TMDB: popular page 1 is Parasite and The Godfather, page 2 repeats The
/// Godfather (lists shift while being paged) and adds Spirited Away and Dune: Part Two.
fn tmdb(seen: &Seen) -> Reply {
    if seen.path.starts_with("/t/p/w500/") {
        let body = poster_bytes(&seen.path["/t/p/w500".len()..]);
        return Reply::Raw {
            status: 200,
            content_type: "image/jpeg",
            headers: vec![],
            body,
        };
    }
    if seen.query.get("api_key").map(String::as_str) != Some(KEY) {
        return Reply::Json(
            401,
            json!({ "success": false, "status_code": 7, "status_message": "Invalid API key: You must be granted a valid key." }),
        );
    }
    let page = seen
        .query
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    match seen.path.as_str() {
        "/3/movie/popular" => match page {
            1 => Reply::Json(200, list_page(&[&PARASITE, &GODFATHER], 1, 2)),
            _ => Reply::Json(
                200,
                list_page(&[&GODFATHER, &SPIRITED_AWAY, &DUNE_TWO], 2, 2),
            ),
        },
        "/3/genre/movie/list" => Reply::Json(
            200,
            json!({ "genres": [
                { "id": 28, "name": "Action" }, { "id": 16, "name": "Animation" }, { "id": 35, "name": "Comedy" },
                { "id": 80, "name": "Crime" }, { "id": 18, "name": "Drama" }, { "id": 36, "name": "History" },
                { "id": 878, "name": "Science Fiction" }
            ]}),
        ),
        "/3/discover/movie" if seen.query.get("with_genres").map(String::as_str) == Some("16") => {
            Reply::Json(200, list_page(&[&SPIRITED_AWAY], 1, 1))
        }
        "/3/discover/movie" => Reply::Json(200, list_page(&[], 1, 1)),
        path => {
            let film = path
                .strip_prefix("/3/movie/")
                .and_then(|id| FILMS.iter().find(|f| f.id.to_string() == id));
            match film {
                Some(f) => {
                    let language = seen
                        .query
                        .get("language")
                        .map(String::as_str)
                        .unwrap_or("en-US");
                    Reply::Json(
                        200,
                        details(
                            f,
                            language,
                            seen.query.get("append_to_response").map(String::as_str),
                        ),
                    )
                }
                None => Reply::Json(
                    404,
                    json!({ "success": false, "status_code": 34, "status_message": "The resource you requested could not be found." }),
                ),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn open(dir: &Path) -> Catalog {
    Catalog::open(&dir.join("db.sqlite3")).unwrap()
}

async fn import(
    catalog: &mut Catalog,
    client: &TmdbClient,
    pages: u32,
    genre: Option<&str>,
    posters: Option<&Path>,
) -> (Result<TmdbReport, ImportError>, Vec<Progress>) {
    let mut reports = Vec::new();
    let result = tmdb::import_popular(catalog, client, pages, genre, posters, &mut |p| {
        reports.push(p)
    })
    .await;
    (result, reports)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test]
async fn popular_import_writes_films_in_english_and_korean_with_posters() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    let mock = Mock::start(tmdb).await;
    let posters = dir.path().join("posters");

    let (result, progress) = import(&mut catalog, &mock.client(), 2, None, Some(&posters)).await;
    let report = result.unwrap();

    assert_eq!(
        report.listed, 4,
        "The Godfather listed on both pages counts once"
    );
    assert_eq!(report.skipped, 0);
    assert_eq!(
        report.stats,
        ImportStats {
            added: 4,
            updated: 0,
            unchanged: 0
        }
    );
    assert_eq!(
        (
            report.posters_downloaded,
            report.posters_cached,
            report.posters_failed
        ),
        (4, 0, 0)
    );
    assert_eq!(catalog.count().unwrap(), 4);
    assert_eq!(progress.first(), Some(&Progress { done: 0, total: 4 }));
    assert_eq!(progress.last(), Some(&Progress { done: 4, total: 4 }));

    let parasite = catalog
        .get("parasite-2019")
        .unwrap()
        .expect("Parasite is keyed by its English title and year");
    assert_eq!(parasite.title, "Parasite");
    assert_eq!(parasite.title_ko.as_deref(), Some("기생충"));
    assert_eq!(parasite.original_title.as_deref(), Some("기생충"));
    assert_eq!(parasite.overview.as_deref(), Some(PARASITE.overview));
    assert_eq!(parasite.overview_ko.as_deref(), Some(PARASITE.overview_ko));
    assert_eq!(parasite.year, Some(2019));
    assert_eq!(parasite.runtime, Some(133));
    assert_eq!(parasite.genres, strings(&["Comedy", "Thriller", "Drama"]));
    assert_eq!(
        parasite.directors,
        strings(&["Bong Joon-ho"]),
        "only the Director job, once"
    );
    assert_eq!(
        parasite.cast,
        strings(&[
            "Song Kang-ho",
            "Lee Sun-kyun",
            "Cho Yeo-jeong",
            "Choi Woo-shik",
            "Park So-dam"
        ]),
        "cast in billing order"
    );
    assert_eq!(parasite.imdb_id.as_deref(), Some("tt6751668"));
    assert_eq!(parasite.tmdb_id, Some(496243));
    assert_eq!(parasite.popularity, Some(30.512));
    let poster_url = format!("{}/t/p/w500/7IiTTgloJzvGI1TAYymCfbfl3vT.jpg", mock.base);
    assert_eq!(parasite.poster_url.as_deref(), Some(poster_url.as_str()));

    let godfather = catalog.get("the-godfather-1972").unwrap().unwrap();
    assert_eq!(godfather.title_ko.as_deref(), Some("대부"));
    assert_eq!(godfather.directors, strings(&["Francis Ford Coppola"]));
    assert_eq!(
        godfather.cast,
        strings(&["Marlon Brando", "Al Pacino", "James Caan"])
    );

    let spirited = catalog.get("spirited-away-2001").unwrap().unwrap();
    assert_eq!(
        spirited.genres,
        strings(&["Animated", "Family", "Fantasy"]),
        "TMDB's Animation is the catalog's Animated"
    );
    assert_eq!(spirited.title_ko.as_deref(), Some("센과 치히로의 행방불명"));
    assert_eq!(
        spirited.overview_ko, None,
        "an empty Korean overview is not stored"
    );

    let dune = catalog.get("dune-part-two-2024").unwrap().unwrap();
    assert_eq!(
        dune.title_ko, None,
        "TMDB's fallback to the original title is not a Korean title"
    );
    assert_eq!(dune.cast, strings(&["Timothée Chalamet", "Zendaya"]));

    // Posters: one file per film, named by key, holding what the image server sent.
    for (key, film) in [
        ("parasite-2019", &PARASITE),
        ("the-godfather-1972", &GODFATHER),
        ("spirited-away-2001", &SPIRITED_AWAY),
        ("dune-part-two-2024", &DUNE_TWO),
    ] {
        let file = posters.join(format!("{key}.jpg"));
        assert_eq!(
            std::fs::read(&file).unwrap(),
            poster_bytes(film.poster_path),
            "{}",
            file.display()
        );
    }
    assert_eq!(
        std::fs::read_dir(&posters).unwrap().count(),
        4,
        "no partial files left behind"
    );

    // Korean search finds the imported Korean title.
    let hits = catalog
        .search(&movietalk_core::SearchQuery {
            text: "대부".into(),
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        hits.movies.first().map(|m| m.key.as_str()),
        Some("the-godfather-1972")
    );

    // Every API request carried the key; the image server never saw it.
    let seen = mock.seen();
    let (images, api): (Vec<_>, Vec<_>) = seen.iter().partition(|s| s.path.starts_with("/t/p/"));
    assert_eq!(images.len(), 4);
    assert!(images.iter().all(|s| !s.query.contains_key("api_key")));
    assert_eq!(
        api.len(),
        2 + 4 * 2,
        "two list pages, then each film in en-US and ko-KR"
    );
    assert!(
        api.iter()
            .all(|s| s.query.get("api_key").map(String::as_str) == Some(KEY)),
        "{api:?}"
    );
    let parasite_requests: Vec<_> = api.iter().filter(|s| s.path == "/3/movie/496243").collect();
    let mut languages: Vec<_> = parasite_requests
        .iter()
        .map(|s| s.query["language"].as_str())
        .collect();
    languages.sort();
    assert_eq!(languages, ["en-US", "ko-KR"]);
    assert!(parasite_requests.iter().any(|s| {
        s.query
            .get("append_to_response")
            .is_some_and(|a| a.contains("credits"))
    }));
}

#[tokio::test]
async fn importing_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    // Over the starter catalog, which already has three of the four films.
    let seeded = catalog.seed_if_empty().unwrap() as u64;
    let starter_parasite = catalog.get("parasite-2019").unwrap().unwrap();
    let mock = Mock::start(tmdb).await;
    let client = mock.client();
    let posters = dir.path().join("posters");

    let first = import(&mut catalog, &client, 2, None, Some(&posters))
        .await
        .0
        .unwrap();
    assert_eq!(
        first.stats,
        ImportStats {
            added: 1,
            updated: 3,
            unchanged: 0
        },
        "{first:?}"
    );
    assert_eq!(catalog.count().unwrap(), seeded + 1);
    let parasite = catalog.get("parasite-2019").unwrap().unwrap();
    assert_eq!(
        parasite.overview_ko, starter_parasite.overview_ko,
        "TMDB fills gaps but never overwrites the starter's text"
    );
    assert_eq!(parasite.cast, starter_parasite.cast);
    assert_eq!(
        parasite.tmdb_id,
        Some(496243),
        "the gap (TMDB id) is filled"
    );
    assert!(parasite.poster_url.is_some());
    let after_first: Vec<_> = [
        "parasite-2019",
        "the-godfather-1972",
        "spirited-away-2001",
        "dune-part-two-2024",
    ]
    .iter()
    .map(|k| catalog.get(k).unwrap().unwrap())
    .collect();
    let poster_time = std::fs::metadata(posters.join("dune-part-two-2024.jpg"))
        .unwrap()
        .modified()
        .unwrap();

    let second = import(&mut catalog, &client, 2, None, Some(&posters))
        .await
        .0
        .unwrap();
    assert_eq!(
        second.stats,
        ImportStats {
            added: 0,
            updated: 0,
            unchanged: 4
        },
        "{second:?}"
    );
    assert_eq!(
        (second.posters_downloaded, second.posters_cached),
        (0, 4),
        "cached posters are not downloaded again"
    );
    assert_eq!(catalog.count().unwrap(), seeded + 1);
    for before in &after_first {
        assert_eq!(catalog.get(&before.key).unwrap().as_ref(), Some(before));
    }
    assert_eq!(
        std::fs::metadata(posters.join("dune-part-two-2024.jpg"))
            .unwrap()
            .modified()
            .unwrap(),
        poster_time
    );
    assert_eq!(
        mock.seen()
            .iter()
            .filter(|s| s.path.starts_with("/t/p/"))
            .count(),
        4,
        "each poster was fetched once"
    );
}

#[tokio::test]
async fn rate_limited_requests_wait_for_retry_after_and_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let mock = Mock::start(move |seen| {
        if seen.path == "/3/movie/popular" {
            let mut n = counter.lock().unwrap();
            *n += 1;
            if *n == 1 {
                return Reply::Raw {
                    status: 429,
                    content_type: "application/json",
                    headers: vec![("Retry-After", "1".into())],
                    body: br#"{"status_code":25,"status_message":"Your request count (41) is over the allowed limit of 40."}"#.to_vec(),
                };
            }
        }
        tmdb(seen)
    })
    .await;

    let started = Instant::now();
    let report = import(&mut catalog, &mock.client(), 1, None, None)
        .await
        .0
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited the second Retry-After asked for: {:?}",
        started.elapsed()
    );
    assert_eq!(
        *calls.lock().unwrap(),
        2,
        "asked once, refused, asked again"
    );
    assert_eq!(report.stats.added, 2);
    assert_eq!(catalog.count().unwrap(), 2);
    assert!(catalog.get("parasite-2019").unwrap().is_some());
}

#[tokio::test]
async fn endless_rate_limiting_gives_up_with_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    catalog.seed_if_empty().unwrap();
    let before = catalog.count().unwrap();
    let mock = Mock::start(|seen| {
        if seen.path == "/3/movie/238" {
            return Reply::Raw {
                status: 429,
                content_type: "application/json",
                headers: vec![("Retry-After", "0".into())],
                body: b"{}".to_vec(),
            };
        }
        tmdb(seen)
    })
    .await;

    let client = mock.client().with_rate_limit_retries(2);
    let err = import(&mut catalog, &client, 1, None, None)
        .await
        .0
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::RateLimited { attempts: 3, endpoint } if endpoint.starts_with("TMDB /movie/238")),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("429") && message.contains("nothing was imported"),
        "{message}"
    );
    assert_eq!(catalog.count().unwrap(), before);
    assert!(
        catalog
            .get("parasite-2019")
            .unwrap()
            .unwrap()
            .tmdb_id
            .is_none(),
        "Parasite (fetched fine) was not written either"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_leaves_the_database_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    catalog.seed_if_empty().unwrap();
    let before = catalog.count().unwrap();
    let mock = Mock::start(|seen| {
        if seen.path == "/3/movie/popular" {
            Reply::Hold
        } else {
            tmdb(seen)
        }
    })
    .await;

    let client = mock
        .client()
        .with_timeout(Duration::from_millis(300))
        .with_retries(1);
    let started = Instant::now();
    let err = import(&mut catalog, &client, 1, None, None)
        .await
        .0
        .unwrap_err();
    let elapsed = started.elapsed();

    assert!(
        matches!(&err, ImportError::Timeout { attempts: 2, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("TMDB /movie/popular") && message.contains("no answer within 0.3 s"),
        "{message}"
    );
    assert!(
        !message.contains(KEY),
        "the key never appears in errors: {message}"
    );
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_eq!(mock.count("/3/movie/popular"), 2, "retried once");
    assert_eq!(catalog.count().unwrap(), before);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    let failures = Arc::new(Mutex::new(0u32));
    let counter = failures.clone();
    let mock = Mock::start(move |seen| {
        if seen.path == "/3/movie/496243"
            && seen.query.get("language").map(String::as_str) == Some("ko-KR")
        {
            let mut n = counter.lock().unwrap();
            *n += 1;
            if *n <= 2 {
                return Reply::Json(
                    500,
                    json!({ "status_code": 11, "status_message": "Internal error" }),
                );
            }
        }
        tmdb(seen)
    })
    .await;

    let report = import(&mut catalog, &mock.client(), 1, None, None)
        .await
        .0
        .unwrap();
    assert_eq!(*failures.lock().unwrap(), 3, "two 500s, then the answer");
    assert_eq!(report.stats.added, 2);
    assert_eq!(
        catalog
            .get("parasite-2019")
            .unwrap()
            .unwrap()
            .title_ko
            .as_deref(),
        Some("기생충")
    );

    // Always 500: a clear error after the retries.
    let mock = Mock::start(|seen| {
        if seen.path == "/3/movie/popular" {
            Reply::Json(503, json!({}))
        } else {
            tmdb(seen)
        }
    })
    .await;
    let err = import(&mut catalog, &mock.client().with_retries(2), 1, None, None)
        .await
        .0
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn malformed_json_names_the_endpoint_and_leaves_the_database_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    catalog.seed_if_empty().unwrap();
    let before = catalog.count().unwrap();
    let mock = Mock::start(|seen| {
        if seen.path == "/3/movie/238"
            && seen.query.get("language").map(String::as_str) == Some("en-US")
        {
            return Reply::Raw {
                status: 200,
                content_type: "application/json",
                headers: vec![],
                body: br#"{"id": 238, "title": "The Godf"#.to_vec(),
            };
        }
        tmdb(seen)
    })
    .await;

    let err = import(&mut catalog, &mock.client(), 1, None, None)
        .await
        .0
        .unwrap_err();
    assert!(matches!(&err, ImportError::Syntax { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("TMDB /movie/238?language=en-US"),
        "names the endpoint: {message}"
    );
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert_eq!(catalog.count().unwrap(), before);
    assert!(
        catalog
            .get("parasite-2019")
            .unwrap()
            .unwrap()
            .tmdb_id
            .is_none(),
        "nothing of the batch was written"
    );

    // Valid JSON of the wrong shape is a clear error too.
    let mock = Mock::start(|seen| {
        if seen.path == "/3/movie/popular" {
            return Reply::Json(
                200,
                json!({ "page": 1, "results": [{ "id": "not a number" }] }),
            );
        }
        tmdb(seen)
    })
    .await;
    let err = import(&mut catalog, &mock.client(), 1, None, None)
        .await
        .0
        .unwrap_err();
    assert!(
        matches!(&err, ImportError::Response { endpoint, .. } if endpoint == "TMDB /movie/popular?page=1&language=en-US"),
        "{err:?}"
    );
    assert_eq!(catalog.count().unwrap(), before);
}

#[tokio::test]
async fn a_refused_api_key_gives_a_clear_error_without_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    let mock = Mock::start(tmdb).await;
    let client = TmdbClient::new("wrong-key", &format!("{}/3", mock.base)).unwrap();

    let err = import(&mut catalog, &client, 1, None, None)
        .await
        .0
        .unwrap_err();
    assert!(matches!(&err, ImportError::ApiKeyRefused { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("API key was refused") && message.contains("TMDB /movie/popular"),
        "{message}"
    );
    assert!(!message.contains("wrong-key"), "{message}");
    assert_eq!(mock.seen().len(), 1, "a refused key is not retried");
    assert_eq!(catalog.count().unwrap(), 0);

    assert!(
        matches!(
            TmdbClient::new("  ", &mock.base),
            Err(ImportError::Catalog(_))
        ),
        "an empty key is refused up front"
    );
    assert!(
        !format!("{:?}", mock.client()).contains(KEY),
        "Debug output hides the key"
    );
}

#[tokio::test]
async fn genre_import_resolves_catalog_genre_names_through_discover() {
    let dir = tempfile::tempdir().unwrap();
    let mut catalog = open(dir.path());
    let mock = Mock::start(tmdb).await;

    let report = import(&mut catalog, &mock.client(), 3, Some("animated"), None)
        .await
        .0
        .unwrap();
    assert_eq!(report.stats.added, 1);
    assert_eq!(
        catalog.get("spirited-away-2001").unwrap().unwrap().genres[0],
        "Animated"
    );
    let discover: Vec<_> = mock
        .seen()
        .into_iter()
        .filter(|s| s.path == "/3/discover/movie")
        .collect();
    assert_eq!(discover.len(), 1, "stops at the last page TMDB has");
    assert_eq!(
        discover[0].query.get("with_genres").map(String::as_str),
        Some("16")
    );

    let err = import(&mut catalog, &mock.client(), 1, Some("Polka"), None)
        .await
        .0
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("\"Polka\"") && message.contains("Animated"),
        "lists the genres there are: {message}"
    );

    assert_eq!(tmdb::catalog_genre("History"), "Historical");
    assert_eq!(tmdb::catalog_genre("Music"), "Musical");
    assert_eq!(tmdb::catalog_genre("Science Fiction"), "Science Fiction");
}
