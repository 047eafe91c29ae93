//! The community model through real WebSocket clients: built from imported ratings and from
//! reviews, served a page at a time to anyone, rebuilt when ratings change; the imported
//! raters cannot be logged in as; `relay-server import-ratings` end to end.

#[path = "support/raw.rs"]
mod raw;
#[path = "support/store.rs"]
mod store;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use movietalk_community::Model;
use movietalk_protocol::relay::{ClientMessage, ErrorCode, ModelFilm, ServerMessage};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::community::CommunityStore;
use movietalk_relay::community::serve::ModelConfig;
use movietalk_relay::{Config, RelayStore, RunningRelay, start};
use raw::Raw;

async fn relay(store: Arc<dyn RelayStore>) -> RunningRelay {
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        model: ModelConfig {
            check: Duration::from_millis(50),
            after_changes: 1,
            max_age: Duration::from_secs(3600),
            films_per_page: 2,
        },
        ..Config::default()
    };
    start("127.0.0.1:0".parse().unwrap(), config, store)
        .await
        .unwrap()
}

/// Twelve people: westerns fans, noir fans, and fans of both; one rated an obscure film alone.
fn community() -> Vec<(String, String, f32)> {
    let mut out = Vec::new();
    for u in 0..12 {
        let user = format!("ml{u}");
        if u % 3 != 1 {
            out.push((user.clone(), "high-noon-1952".into(), 4.0));
            out.push((user.clone(), "rio-bravo-1959".into(), 5.0));
        }
        if u % 3 != 0 {
            out.push((user.clone(), "double-indemnity-1944".into(), 4.5));
            out.push((user.clone(), "laura-1944".into(), 3.5));
        }
    }
    out.push(("ml0".into(), "obscure-1950".into(), 1.0));
    out
}

/// Every page of one version of the model, read as a client does: (version, films, unchanged).
/// A rate limit is waited out; a version rebuilt between pages is read again from its start.
async fn fetch(c: &mut Raw, since: Option<u64>) -> (u64, Vec<ModelFilm>, bool) {
    let mut films = Vec::new();
    let mut page = 0;
    let mut reading = None;
    loop {
        match c.call(ClientMessage::CommunityModel { since, page }).await {
            ServerMessage::CommunityModel {
                version,
                pages,
                unchanged,
                films: part,
                page: p,
                ..
            } => {
                assert_eq!(p, page);
                if unchanged || version == 0 {
                    return (version, films, unchanged);
                }
                if *reading.get_or_insert(version) != version {
                    (films, page, reading) = (Vec::new(), 0, None);
                    continue;
                }
                assert!(part.len() <= 2, "pages of the configured size");
                films.extend(part);
                page += 1;
                if page >= pages {
                    return (version, films, false);
                }
            }
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => tokio::time::sleep(Duration::from_millis(250)).await,
            other => panic!("expected the model, got {other:?}"),
        }
    }
}

/// Waits until the relay serves a version above `above`.
async fn newer_than(c: &mut Raw, above: u64) -> (u64, Vec<ModelFilm>) {
    for _ in 0..200 {
        let (v, films, _) = fetch(c, None).await;
        if v > above {
            return (v, films);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the relay never served a model newer than {above}");
}

/// Waits until the relay serves a model whose films `ok` accepts.
async fn served_when(c: &mut Raw, ok: impl Fn(&[ModelFilm]) -> bool) -> (u64, Vec<ModelFilm>) {
    for _ in 0..200 {
        let (v, films, _) = fetch(c, None).await;
        if ok(&films) {
            return (v, films);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the relay never served the model awaited");
}

#[tokio::test]
async fn the_model_is_built_from_everyones_ratings_and_served_to_guests_in_pages() {
    let store = store::fresh();
    let relay = relay(store.clone()).await;
    let mut guest = Raw::connect(&relay, "guest").await;
    let (v, films, _) = fetch(&mut guest, None).await;
    assert_eq!((v, films.len()), (0, 0), "no model before any rating");

    let stored = store.import_ratings(&community(), 1_000).unwrap();
    assert_eq!((stored.new_raters, stored.changed), (12, 33));
    let (v1, films) = newer_than(&mut guest, 0).await;
    let model = Model::from_wire(films.clone()).unwrap();
    let keys: Vec<&str> = model.films.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "double-indemnity-1944",
            "high-noon-1952",
            "laura-1944",
            "rio-bravo-1959"
        ],
        "every film rated by three or more, none rated by one person alone"
    );
    let high_noon = &model.films[1];
    assert_eq!((high_noon.raters, high_noon.mean), (8, 4.0));
    assert_eq!(
        model.films[high_noon.weights().next().unwrap().0 as usize].key,
        "rio-bravo-1959"
    );
    // What the model says is per film: no account, handle or user id anywhere in it.
    let wire = serde_json::to_string(&films).unwrap();
    assert!(!wire.contains("ml0") && !wire.contains("rater-"), "{wire}");

    // Asking with the version held: unchanged, nothing sent. A page past the end is refused.
    let (v, films, unchanged) = fetch(&mut guest, Some(v1)).await;
    assert!(unchanged && v == v1 && films.is_empty());
    assert_eq!(
        guest
            .refused(ClientMessage::CommunityModel {
                since: None,
                page: 2,
            })
            .await,
        ErrorCode::InvalidInput
    );

    // Pages are limited like writes (a page is up to a megabyte to send): a guest asking
    // without pause is told to slow down before long.
    let mut greedy = Raw::connect(&relay, "greedy").await;
    let mut limited = 0;
    for _ in 0..40 {
        match greedy
            .call(ClientMessage::CommunityModel {
                since: None,
                page: 0,
            })
            .await
        {
            ServerMessage::CommunityModel { .. } => {}
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(limited > 0, "40 pages at once were all served");

    // The same import again changes nothing, so nothing is rebuilt.
    let again = store.import_ratings(&community(), 2_000).unwrap();
    assert_eq!((again.new_raters, again.changed), (0, 0));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fetch(&mut guest, Some(v1)).await.0, v1);

    // A member's review is a rating too: the model is rebuilt with it.
    let mut member = Raw::connect(&relay, "alice").await;
    member.sign_up("alice").await;
    for key in ["obscure-1950", "laura-1944"] {
        match member
            .call(ClientMessage::PutReview {
                client_id: format!("c-{key}"),
                movie_key: key.into(),
                title: key.into(),
                year: None,
                rating: 2.0,
                body: String::new(),
                spoiler: false,
                edited_at_ms: None,
            })
            .await
        {
            ServerMessage::ReviewSaved { .. } => {}
            other => panic!("review refused: {other:?}"),
        }
    }
    // (Each review may get a build of its own: wait for the one that has both.)
    let (v2, films) = served_when(&mut guest, |films| {
        films.iter().any(|f| f.key == "laura-1944" && f.raters == 9)
    })
    .await;
    assert!(v2 > v1);
    assert!(
        !films.iter().any(|f| f.key == "obscure-1950"),
        "two raters are still too few"
    );
    assert!(
        !fetch(&mut guest, Some(v1)).await.2,
        "{v1} is no longer the newest"
    );
    assert!(fetch(&mut guest, Some(v2)).await.2);

    // A deleted account's ratings leave the model with its reviews.
    match member
        .call(ClientMessage::DeleteAccount {
            password: "alice password".into(),
        })
        .await
    {
        ServerMessage::Ok { .. } => {}
        other => panic!("deletion refused: {other:?}"),
    }
    let (v3, _) = served_when(&mut guest, |films| {
        films.iter().any(|f| f.key == "laura-1944" && f.raters == 8)
    })
    .await;
    assert!(v3 > v2);
    relay.shutdown().await.unwrap();

    // A restarted relay serves the stored model at once, without building it again.
    let relay = self::relay(store.clone()).await;
    let mut c = Raw::connect(&relay, "later").await;
    assert_eq!(newer_than(&mut c, 0).await.0, v3);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn nobody_can_log_in_as_or_take_over_an_imported_rater() {
    let store = store::fresh();
    store.import_ratings(&community(), 1_000).unwrap();
    let relay = relay(store.clone()).await;
    let mut c = Raw::connect(&relay, "probe").await;
    let handles: Vec<String> = (0..12).map(|u| rater_handle(&format!("ml{u}"))).collect();
    for handle in &handles {
        let profile = store.profile(handle).unwrap();
        assert_eq!(profile.display_name, "Imported rater");
    }
    for handle in &handles {
        for password in ["", "password", handle.as_str()] {
            assert_eq!(
                c.refused(ClientMessage::LogIn {
                    handle: handle.clone(),
                    password: password.into(),
                })
                .await,
                ErrorCode::InvalidCredentials,
                "{handle} with {password:?}"
            );
        }
        assert_eq!(
            c.refused(ClientMessage::SignUp {
                handle: handle.clone(),
                password: "a long password".into(),
                display_name: None,
            })
            .await,
            ErrorCode::Conflict
        );
    }
    // A member who took the handle an imported user would get is never that user: the import
    // makes the rater a longer handle and leaves the member's account alone.
    let mut m = Raw::connect(&relay, "m").await;
    let taken = rater_handle("newcomer");
    let (member, ..) = m.sign_up(&taken).await;
    store
        .import_ratings(&[("newcomer".into(), "laura-1944".into(), 1.0)], 3_000)
        .unwrap();
    match m
        .call(ClientMessage::GetProfile {
            handle: taken.clone(),
        })
        .await
    {
        ServerMessage::Profile { account, .. } => {
            assert_eq!(
                (account.id, account.display_name.as_str()),
                (member, taken.as_str())
            )
        }
        other => panic!("{other:?}"),
    }
    let rated_by: Vec<u64> = store
        .ratings()
        .unwrap()
        .into_iter()
        .filter(|r| r.1 == "laura-1944" && r.2 == 1.0)
        .map(|r| r.0)
        .collect();
    assert_eq!(rated_by.len(), 1);
    assert_ne!(rated_by[0], member, "the member's account got no rating");
    relay.shutdown().await.unwrap();
}

/// The handle of the account standing for imported user `user`: `rater-` and the start of a
/// hash of the user id (as `community::import_ratings` makes it).
fn rater_handle(user: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("import-ratings:{user}").as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("rater-{}", &hex[..10])
}

#[test]
fn import_ratings_matches_against_a_catalog_reports_the_rest_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let catalog_path = dir.path().join("movietalk.sqlite3");
    let mut catalog = movietalk_core::Catalog::open(&catalog_path).unwrap();
    catalog.seed_if_empty().unwrap();
    drop(catalog);
    let csv = dir.path().join("ratings.csv");
    let mut body = String::from("user,title,year,rating\n");
    for u in 0..5 {
        body.push_str(&format!("u{u},\"Godfather, The\",1972,5\n"));
        body.push_str(&format!("u{u},Spirited Away,2001,4.5\n"));
        body.push_str(&format!("u{u},Past Lives,2022,4\n")); // one year off
    }
    body.push_str("u0,A Film Nobody Made,2011,3\n");
    std::fs::write(&csv, body).unwrap();
    let db = dir.path().join("relay.sqlite3");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_relay-server"))
            .arg("import-ratings")
            .arg("--db")
            .arg(&db)
            .arg("--catalog")
            .arg(&catalog_path)
            .arg(&csv)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(first.contains("16 rows read; 15 matched"), "{first}");
    assert!(
        first.contains("line 17: A Film Nobody Made (2011)"),
        "{first}"
    );
    assert!(
        first.contains("5 new raters; 15 ratings added or changed"),
        "{first}"
    );
    assert!(
        first.contains("community model version 1: 3 films"),
        "{first}"
    );
    let second = run();
    assert!(
        second.contains("0 new raters; 0 ratings added or changed"),
        "{second}"
    );

    // The films are stored under the catalog's keys, so every client finds them.
    let store = movietalk_relay::store::SqliteStore::open(&db).unwrap();
    let mut keys: Vec<String> = store.ratings().unwrap().into_iter().map(|r| r.1).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys,
        [
            "past-lives-2023",
            "spirited-away-2001",
            "the-godfather-1972"
        ]
    );

    // A bad row stops the import before anything is stored, and says where.
    std::fs::write(&csv, "u9,Heat,1995,4\nu9,Heat,1995,eleven\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relay-server"))
        .args(["import-ratings", "--db"])
        .arg(&db)
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("eleven"), "{err}");
    assert_eq!(store.ratings().unwrap().len(), 15);
}
