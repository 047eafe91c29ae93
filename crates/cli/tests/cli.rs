//! The `movietalk` binary as a script would use it: a throwaway data directory, JSON output,
//! exit codes, and importing from a file and from a URL served on loopback.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};

fn movietalk(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_movietalk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MOVIETALK_DATA_DIR")
        .output()
        .expect("the binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/wikipedia")
}

#[test]
fn search_show_and_stats_speak_json_on_a_throwaway_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let found = json(&movietalk(
        dir.path(),
        &["search", "godfater", "--json", "--limit", "3"],
    ));
    assert_eq!(found["movies"][0]["key"], "the-godfather-1972");
    assert_eq!(found["corrections"][0]["suggested"], "godfather");
    assert!(found["fallback"].is_null());

    let shown = json(&movietalk(dir.path(), &["show", "parasite-2019", "--json"]));
    assert_eq!(shown["title_ko"], "기생충");

    let stats = json(&movietalk(dir.path(), &["stats", "--json"]));
    assert!(stats["movies"].as_u64().unwrap() >= 150);
    assert!(
        dir.path().join("movietalk.sqlite3").is_file(),
        "the database lives in --data-dir"
    );

    let westerns = json(&movietalk(
        dir.path(),
        &["browse", "--genre", "Western", "--json", "--sort", "oldest"],
    ));
    let years: Vec<i64> = westerns["movies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["year"].as_i64().unwrap())
        .collect();
    assert!(
        !years.is_empty() && years.windows(2).all(|w| w[0] <= w[1]),
        "{years:?}"
    );
}

#[test]
fn bad_input_exits_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["show", "no-such-film"][..],
        &["search", "x", "--year", "nineteen"],
        &["search", "x", "--year", "2000..1990"],
        &["search", "   "],
        &["browse", "--decade", "1995"],
        &["import", "wikipedia", "/no/such/file.json"],
    ] {
        let out = movietalk(dir.path(), args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("movietalk: ") && err.len() > 20,
            "{args:?}: unclear message {err:?}"
        );
    }
}

#[test]
fn importing_a_file_and_a_url_gives_the_same_catalog() {
    let by_file = tempfile::tempdir().unwrap();
    let path = fixtures().join("movies-b.json");
    let report = json(&movietalk(
        by_file.path(),
        &["import", "wikipedia", path.to_str().unwrap(), "--json"],
    ));
    assert_eq!(report["stats"]["added"], 2);

    // Serve the same file once over HTTP on loopback.
    let body = std::fs::read(&path).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/movies-b.json", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).unwrap();
        socket.write_all(&body).unwrap();
    });
    let by_url = tempfile::tempdir().unwrap();
    let report = json(&movietalk(
        by_url.path(),
        &["import", "wikipedia", &url, "--json"],
    ));
    server.join().unwrap();
    assert_eq!(report["stats"]["added"], 2);
    let a = json(&movietalk(
        by_file.path(),
        &["show", "skyline-sonata-2003", "--json"],
    ));
    let b = json(&movietalk(
        by_url.path(),
        &["show", "skyline-sonata-2003", "--json"],
    ));
    assert_eq!(a, b);
}

#[test]
fn similar_rate_and_recommend_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let similar = json(&movietalk(
        dir.path(),
        &["similar", "toy-story-1995", "--top", "2", "--json"],
    ));
    let keys: Vec<&str> = similar
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["movie"]["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"toy-story-2-1999"), "{keys:?}");

    let cold = json(&movietalk(
        dir.path(),
        &["recommend", "--top", "4", "--json"],
    ));
    assert_eq!(cold["recommendations"][0]["reason"]["kind"], "popular_in");

    assert!(
        movietalk(dir.path(), &["rate", "the-godfather-1972", "5"])
            .status
            .success()
    );
    let mine = json(&movietalk(
        dir.path(),
        &["recommend", "--top", "5", "--json"],
    ));
    assert_eq!(mine["rated"], 1);
    let picks = mine["recommendations"].as_array().unwrap();
    assert!(
        picks
            .iter()
            .any(|p| p["movie"]["key"] == "the-godfather-part-ii-1974"),
        "{picks:?}"
    );
    assert!(
        picks
            .iter()
            .all(|p| p["movie"]["key"] != "the-godfather-1972"),
        "the rated film is not recommended"
    );
    assert_eq!(picks[0]["reason"]["kind"], "because_you_liked");

    for bad in [
        &["rate", "the-godfather-1972", "6"][..],
        &["rate", "no-such-film", "3"],
        &["rate", "the-godfather-1972"],
    ] {
        assert!(
            !movietalk(dir.path(), bad).status.success(),
            "{bad:?} should fail"
        );
    }

    // The year in film counts the rated film, this year.
    let year = json(&movietalk(dir.path(), &["year", "--json"]));
    assert_eq!(year["films"], 1);
    assert_eq!(year["ratings"][9], 1, "one five-star film");
    assert!(
        year["genres"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "Crime"),
        "{year}"
    );
    let text = movietalk(dir.path(), &["year"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("films 1, mean ★5.0") && text.contains("directors: Francis Ford Coppola 1"),
        "{text}"
    );

    let letterboxd = dir.path().join("ratings.csv");
    std::fs::write(&letterboxd, "Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,Parasite,2019,u,5\n2024-01-02,No Such Film,1999,u,4\n").unwrap();
    let from_file = json(&movietalk(
        dir.path(),
        &[
            "recommend",
            "--ratings",
            letterboxd.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(from_file["rated"], 1);
    assert_eq!(from_file["unmatched"][0]["name"], "No Such Film");
}

#[test]
fn a_diary_is_kept_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let logged = json(&movietalk(
        dir.path(),
        &[
            "diary",
            "log",
            "the-godfather-1972",
            "--on",
            "2025-03-01",
            "--rating",
            "4.5",
            "--review",
            "Still perfect.",
            "--json",
        ],
    ));
    assert_eq!(
        (logged["review"].as_bool(), logged["rating"].as_f64()),
        (Some(true), Some(4.5))
    );
    json(&movietalk(
        dir.path(),
        &[
            "diary",
            "log",
            "the-godfather-1972",
            "--on",
            "2025-05-01",
            "--rewatch",
            "--json",
        ],
    ));
    let diary = json(&movietalk(dir.path(), &["diary", "ls", "--json"]));
    let days: Vec<&str> = diary
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["entry"]["watched_on"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2025-05-01", "2025-03-01"]);
    assert_eq!(diary[0]["movie"]["title_ko"], "대부");
    // The rated watch gave the film its rating (one per film).
    let mine = json(&movietalk(
        dir.path(),
        &["recommend", "--top", "1", "--json"],
    ));
    assert_eq!(mine["rated"], 1);
    let id = logged["client_id"].as_str().unwrap();
    assert!(movietalk(dir.path(), &["diary", "rm", id]).status.success());
    assert!(!movietalk(dir.path(), &["diary", "rm", id]).status.success());
    let bad = movietalk(
        dir.path(),
        &["diary", "log", "the-godfather-1972", "--on", "2025-02-30"],
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a date like"));
    let year = json(&movietalk(dir.path(), &["year", "2025", "--json"]));
    assert_eq!(year["films"], 1, "the rewatch left");

    // The export holds everything of the user's own: the review, the watchlist, the diary.
    movietalk(dir.path(), &["watchlist", "add", "parasite-2019"]);
    let out = json(&movietalk(dir.path(), &["export", "--json"]));
    let file = std::fs::read(out["path"].as_str().unwrap()).unwrap();
    let export: serde_json::Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(export["version"], 2);
    assert_eq!(export["reviews"][0]["body"], "Still perfect.");
    assert_eq!(export["watchlist"][0]["movie_key"], "parasite-2019");
    assert_eq!(export["watchlist_public"], false);
    assert_eq!(export["diary"].as_array().unwrap().len(), 1);
    assert_eq!(export["diary"][0]["rewatch"], true);
}

#[test]
fn a_letterboxd_export_is_imported_once_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let zip =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/letterboxd/export.zip");
    let zip = zip.to_str().unwrap();
    let first = json(&movietalk(
        dir.path(),
        &["import", "letterboxd", zip, "--json"],
    ));
    assert_eq!(
        (first["diary"].as_u64(), first["watchlist"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(first["unmatched"][0]["file"], "diary.csv");
    let again = json(&movietalk(
        dir.path(),
        &["import", "letterboxd", zip, "--json"],
    ));
    assert_eq!(
        (again["diary"].as_u64(), again["ratings"].as_u64()),
        (Some(0), Some(0))
    );
    let diary = json(&movietalk(dir.path(), &["diary", "ls", "--json"]));
    assert_eq!(diary.as_array().unwrap().len(), 3);
    let list = json(&movietalk(dir.path(), &["watchlist", "ls", "--json"]));
    assert_eq!(list["films"].as_array().unwrap().len(), 2);
    let bad = movietalk(dir.path(), &["import", "letterboxd", "Cargo.toml"]);
    assert!(!bad.status.success());
}

#[test]
fn chat_reads_every_message_after_since_across_pages_and_posts_a_line() {
    use movietalk_core::relay_client::RelayClient;
    use movietalk_relay::{Config, start, store::SqliteStore};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A relay on loopback holding 450 messages: more than two pages of 200.
    let relay = runtime.block_on(async {
        let config = Config {
            writes_per_sec: 1e6,
            write_burst: 1e6,
            address_writes_per_sec: 1e6,
            address_write_burst: 1e6,
            frames_per_sec: 1e6,
            frame_burst: 1e6,
            ..Config::default()
        };
        let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
        let relay = start("127.0.0.1:0".parse().unwrap(), config, store)
            .await
            .unwrap();
        let (talker, _events) = RelayClient::connect(&relay.url(), "talker").await.unwrap();
        talker.join("film:heat-1995", None).await.unwrap();
        for i in 0..450 {
            talker
                .send("film:heat-1995", &format!("line {i}"))
                .await
                .unwrap();
        }
        relay
    });
    let dir = tempfile::tempdir().unwrap();
    let url = relay.url();
    let read = json(&movietalk(
        dir.path(),
        &[
            "chat",
            "film:heat-1995",
            "--relay",
            &url,
            "--since",
            "10",
            "--json",
        ],
    ));
    let seqs: Vec<u64> = read
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (11..=450).collect::<Vec<_>>());

    let posted = json(&movietalk(
        dir.path(),
        &[
            "chat",
            "film:heat-1995",
            "--relay",
            &url,
            "--since",
            "449",
            "--send",
            "안녕하세요",
            "--name",
            "cli",
            "--json",
        ],
    ));
    let texts: Vec<&str> = posted
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["line 449", "안녕하세요"]);
    runtime.block_on(relay.shutdown()).unwrap();
}

/// `movietalk ARGS` with `input` on standard input.
fn movietalk_with_input(data: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_movietalk"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MOVIETALK_DATA_DIR")
        .env_remove("MOVIETALK_RELAY_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `movietalk login HANDLE` with the tests' password on standard input; the session as JSON.
fn log_in(data: &Path, handle: &str, relay: &str) -> serde_json::Value {
    json(&movietalk_with_input(
        data,
        &[
            "login",
            handle,
            "--password-stdin",
            "--relay",
            relay,
            "--json",
        ],
        "correct horse battery\n",
    ))
}

fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the OS keyring works here. `cargo xtask test` provides a Secret Service, so there it
/// must; elsewhere a test that needs one says it skipped.
fn keyring_answers() -> bool {
    let probe = tempfile::tempdir().unwrap();
    if movietalk_core::secrets::Secrets::open(probe.path()).persistent() {
        return true;
    }
    assert!(
        std::env::var_os("MOVIETALK_E2E").is_none(),
        "cargo xtask test provides a Secret Service; it did not answer"
    );
    eprintln!("skipped: no Secret Service here (run it under `cargo xtask test`)");
    false
}

/// A relay on a free loopback port over `store`, with an account (the tests' password) for
/// each of `handles`.
async fn relay_with_accounts(
    store: std::sync::Arc<movietalk_relay::store::SqliteStore>,
    handles: &[&str],
) -> movietalk_relay::RunningRelay {
    use movietalk_core::relay_client::RelayClient;
    let relay = movietalk_relay::start(
        "127.0.0.1:0".parse().unwrap(),
        movietalk_relay::Config::default(),
        store,
    )
    .await
    .unwrap();
    for handle in handles {
        let (c, _events) = RelayClient::connect(&relay.url(), "setup").await.unwrap();
        c.sign_up(handle, "correct horse battery", None)
            .await
            .unwrap();
    }
    relay
}

/// Two people on one relay, each with a data folder of their own, driven only through the CLI:
/// sign-up happens on the relay, then log-in, a review delivered by `sync`, `follow`, the feed
/// and a profile live and from the cache with the relay gone, and log-out. The sessions live in
/// the OS keyring (the Secret Service `cargo xtask test` provides).
#[test]
fn login_sync_feed_profile_and_logout_from_the_command_line() {
    use movietalk_relay::{Config, start, store::SqliteStore};
    if !keyring_answers() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
    let relay = runtime.block_on(relay_with_accounts(store.clone(), &["alice", "bob"]));
    let url = relay.url();
    let (alice, bob) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let at = |dir: &Path, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--relay", &url, "--json"]);
        movietalk(dir, &all)
    };

    let wrong = movietalk_with_input(
        alice.path(),
        &["login", "alice", "--password-stdin", "--relay", &url],
        "not the password\n",
    );
    assert!(failure(&wrong).contains("wrong handle or password"));
    for (dir, handle) in [(alice.path(), "alice"), (bob.path(), "bob")] {
        let session = log_in(dir, handle, &url);
        assert_eq!(session["account"]["handle"], handle);
        assert_eq!(session["keyring"], true);
    }

    // Bob's review is kept locally, then delivered by his sync.
    let saved = json(&movietalk(
        bob.path(),
        &["review", "parasite-2019", "4.5", "봉준호의 걸작", "--json"],
    ));
    assert_eq!(saved["delivery"], "pending");
    let synced = json(&at(bob.path(), &["sync"]));
    assert_eq!(synced["account"], "bob");
    assert_eq!(synced["report"]["sent"], 1);
    assert_eq!(synced["pending"], 0);

    json(&at(alice.path(), &["follow", "bob"]));
    let synced = json(&at(alice.path(), &["sync"]));
    assert_eq!(synced["account"], "alice");
    assert!(synced["report"]["pulled"].as_u64().unwrap() >= 1);
    let feed = json(&at(alice.path(), &["feed"]));
    assert_eq!(feed["live"], true);
    assert_eq!(feed["following"], serde_json::json!(["bob"]));
    assert_eq!(feed["reviews"][0]["review"]["body"], "봉준호의 걸작");
    assert_eq!(feed["reviews"][0]["review"]["author"], "bob");
    let profile = json(&at(alice.path(), &["profile", "bob"]));
    assert_eq!(profile["account"]["handle"], "bob");
    assert_eq!(profile["reviews"].as_array().unwrap().len(), 1);
    let human = movietalk(alice.path(), &["feed", "--relay", &url]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("@bob on Parasite ★4.5: 봉준호의 걸작")
    );

    // With the relay gone, the feed and the profile read from what was synced.
    runtime.block_on(relay.shutdown()).unwrap();
    let offline = json(&at(alice.path(), &["feed"]));
    assert_eq!(offline["live"], false);
    assert_eq!(offline["reviews"][0]["review"]["author"], "bob");
    let profile = json(&at(alice.path(), &["profile", "bob"]));
    assert_eq!(profile["reviews"].as_array().unwrap().len(), 1);
    assert!(failure(&at(alice.path(), &["sync"])).contains("cannot reach the relay"));

    // Logging out while the relay is away still forgets the session here: back online, Alice
    // syncs as a guest.
    let out = json(&at(alice.path(), &["logout"]));
    assert_eq!(out["relay_told"], false);
    let relay = runtime
        .block_on(start(
            "127.0.0.1:0".parse().unwrap(),
            Config::default(),
            store,
        ))
        .unwrap();
    let synced = json(&movietalk(
        alice.path(),
        &["sync", "--relay", &relay.url(), "--json"],
    ));
    assert_eq!(synced["account"], serde_json::Value::Null);
    runtime.block_on(relay.shutdown()).unwrap();
}

/// The watchlist through the CLI: kept here at once, delivered by `sync`, private until its
/// owner makes it public, then readable by another person from the relay; a pick for tonight
/// comes from it.
#[test]
fn a_watchlist_is_kept_synced_and_shared_from_the_command_line() {
    use movietalk_relay::store::SqliteStore;
    if !keyring_answers() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
    let relay = runtime.block_on(relay_with_accounts(store, &["carol", "dan"]));
    let url = relay.url();
    let (carol, dan) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, handle) in [(carol.path(), "carol"), (dan.path(), "dan")] {
        log_in(dir, handle, &url);
    }
    let keys = |list: &serde_json::Value| -> Vec<String> {
        list["films"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["movie"]["key"].as_str().unwrap().to_owned())
            .collect()
    };

    // Offline first: kept here at once.
    for key in ["parasite-2019", "the-godfather-1972"] {
        let added = json(&movietalk(dan.path(), &["watchlist", "add", key, "--json"]));
        assert_eq!(added["changed"], true);
    }
    let again = json(&movietalk(
        dan.path(),
        &["watchlist", "add", "parasite-2019", "--json"],
    ));
    assert_eq!(again["changed"], false);
    assert!(
        failure(&movietalk(
            dan.path(),
            &["watchlist", "add", "no-such-film-1901"]
        ))
        .contains("no movie with key")
    );
    let mine = json(&movietalk(dan.path(), &["watchlist", "ls", "--json"]));
    assert_eq!(keys(&mine), ["the-godfather-1972", "parasite-2019"]);
    assert_eq!(mine["public"], false);
    let by_title = json(&movietalk(
        dan.path(),
        &["watchlist", "ls", "--sort", "title", "--json"],
    ));
    assert_eq!(keys(&by_title), ["parasite-2019", "the-godfather-1972"]);
    let pick = json(&movietalk(dan.path(), &["watchlist", "pick", "--json"]));
    assert!(keys(&mine).contains(&pick["movie"]["key"].as_str().unwrap().to_owned()));

    // Delivered, but private: carol is refused.
    let synced = json(&movietalk(dan.path(), &["sync", "--relay", &url, "--json"]));
    assert_eq!(synced["report"]["sent"], 2);
    let theirs = ["watchlist", "ls", "--of", "dan", "--relay", &url, "--json"];
    assert!(failure(&movietalk(carol.path(), &theirs)).contains("private"));

    // Made public (and one film taken off), then synced: carol reads it from the relay.
    movietalk(dan.path(), &["watchlist", "public", "on"]);
    movietalk(dan.path(), &["watchlist", "rm", "the-godfather-1972"]);
    assert!(
        failure(&movietalk(
            dan.path(),
            &["watchlist", "rm", "the-godfather-1972"]
        ))
        .contains("not on your watchlist")
    );
    let synced = json(&movietalk(dan.path(), &["sync", "--relay", &url, "--json"]));
    assert_eq!(synced["report"]["sent"], 2);
    let read = json(&movietalk(carol.path(), &theirs));
    assert_eq!(read["handle"], "dan");
    assert_eq!(read["public"], true);
    assert_eq!(keys(&read), ["parasite-2019"]);
    assert_eq!(read["films"][0]["movie"]["title"], "Parasite");
    // Carol's own stays hers, and empty.
    let hers = json(&movietalk(carol.path(), &["watchlist", "ls", "--json"]));
    assert!(keys(&hers).is_empty());
    runtime.block_on(relay.shutdown()).unwrap();
}

#[test]
fn logging_out_ends_the_session_on_the_relay() {
    use movietalk_core::relay_client::RelayClient;
    use movietalk_relay::{Config, start, store::SqliteStore};
    if !keyring_answers() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
    let relay = runtime.block_on(async {
        start("127.0.0.1:0".parse().unwrap(), Config::default(), store)
            .await
            .unwrap()
    });
    let url = relay.url();
    let dir = tempfile::tempdir().unwrap();
    let (watcher, logged) = runtime.block_on(async {
        let (c, _events) = RelayClient::connect(&url, "setup").await.unwrap();
        let logged = c
            .sign_up("carol", "correct horse battery", None)
            .await
            .unwrap();
        (c, logged)
    });
    log_in(dir.path(), "carol", &url);
    let sessions = runtime.block_on(watcher.list_sessions()).unwrap();
    assert_eq!(sessions.len(), 2, "the setup's and the CLI's");
    let out = json(&movietalk(
        dir.path(),
        &["logout", "--relay", &url, "--json"],
    ));
    assert_eq!(out["relay_told"], true);
    let sessions = runtime.block_on(watcher.list_sessions()).unwrap();
    assert_eq!(
        sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        [logged.session_id],
        "only the setup's session is left"
    );
    let synced = json(&movietalk(dir.path(), &["sync", "--relay", &url, "--json"]));
    assert_eq!(synced["account"], serde_json::Value::Null);

    // A session revoked from another device: the next command finds it gone and is a guest;
    // logging out still succeeds here.
    log_in(dir.path(), "carol", &url);
    let sessions = runtime.block_on(watcher.list_sessions()).unwrap();
    let cli = sessions.iter().find(|s| !s.current).unwrap().id;
    runtime.block_on(watcher.revoke_session(cli)).unwrap();
    let synced = json(&movietalk(dir.path(), &["sync", "--relay", &url, "--json"]));
    assert_eq!(
        synced["account"],
        serde_json::Value::Null,
        "the revoked session is not used"
    );
    let out = json(&movietalk(
        dir.path(),
        &["logout", "--relay", &url, "--json"],
    ));
    assert_eq!(out["logged_out"], true);
    runtime.block_on(relay.shutdown()).unwrap();
}

#[test]
fn sync_fetches_the_community_model_and_recommend_uses_it_offline() {
    use movietalk_core::relay_client::RelayClient;
    use movietalk_protocol::relay::{ClientMessage, ServerMessage};
    use movietalk_relay::community::CommunityStore;
    use movietalk_relay::community::serve::ModelConfig;
    use movietalk_relay::{Config, start, store::SqliteStore};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A community where everyone who loved Spirited Away also loved Past Lives.
    let relay = runtime.block_on(async {
        let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
        let mut ratings = Vec::new();
        for u in 0..30 {
            let user = format!("u{u}");
            if u % 3 != 2 {
                ratings.push((user.clone(), "spirited-away-2001".into(), 5.0));
                ratings.push((user.clone(), "past-lives-2023".into(), 4.5));
            } else {
                ratings.push((user.clone(), "the-godfather-1972".into(), 4.0));
                ratings.push((user.clone(), "oldboy-2003".into(), 4.0));
            }
        }
        store.import_ratings(&ratings, 1_000).unwrap();
        let config = Config {
            model: ModelConfig {
                check: std::time::Duration::from_millis(50),
                films_per_page: 2,
                ..ModelConfig::default()
            },
            ..Config::default()
        };
        let relay = start("127.0.0.1:0".parse().unwrap(), config, store)
            .await
            .unwrap();
        let (c, _events) = RelayClient::connect(&relay.url(), "probe").await.unwrap();
        for _ in 0..200 {
            let ask = ClientMessage::CommunityModel {
                since: None,
                page: 0,
            };
            if let Ok(ServerMessage::CommunityModel { version: 1.., .. }) = c.call(ask).await {
                return relay;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no model was built");
    });
    let dir = tempfile::tempdir().unwrap();
    let url = relay.url();
    // As a guest: public data and the model, in two pages of two films.
    let out = movietalk(dir.path(), &["sync", "--relay", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("community model version 1: 4 films of it are in your catalog"),
        "{said}"
    );
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("community model: page 2 of 2"),
        "{progress}"
    );
    let again = json(&movietalk(dir.path(), &["sync", "--relay", &url, "--json"]));
    assert_eq!(
        again["report"]["model"],
        serde_json::Value::Null,
        "unchanged"
    );
    runtime.block_on(relay.shutdown()).unwrap();

    // Offline now: the model is in the data folder.
    let ratings = one_rating(dir.path(), "Spirited Away", 2001);
    assert_eq!(
        community_reason(dir.path(), &ratings, "past-lives-2023"),
        serde_json::json!(["Spirited Away"]),
        "people who rated Spirited Away highly also liked it"
    );
    let text = movietalk(
        dir.path(),
        &["recommend", "--ratings", ratings.to_str().unwrap()],
    );
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .contains("people who rated Spirited Away highly also liked it"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );

    // The relay is gone: sync says so and fails.
    let out = movietalk(dir.path(), &["sync", "--relay", &url]);
    assert!(!out.status.success());
    let err = failure(&out);
    assert!(err.contains(&url) || err.contains("reach"), "{err}");
}

#[test]
fn community_ratings_are_imported_and_matched_as_the_relay_matches_them() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("community.csv");
    let mut body = String::from("user,title,year,rating\n");
    for u in 0..5 {
        body.push_str(&format!("u{u},\"Godfather, The\",1972,5\n"));
        body.push_str(&format!("u{u},Past Lives,2022,4\n")); // one year off
    }
    body.push_str("u0,A Film Nobody Made,2011,3\n");
    std::fs::write(&csv, &body).unwrap();
    let report = json(&movietalk(
        dir.path(),
        &[
            "import",
            "community-ratings",
            csv.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(report["rows"], 11);
    assert_eq!(report["stored"], 10);
    assert_eq!(
        report["unmatched"],
        serde_json::json!([[12, "A Film Nobody Made", 2011]])
    );
    // The community now speaks for Past Lives to whoever loved The Godfather.
    let ratings = one_rating(dir.path(), "The Godfather", 1972);
    assert_eq!(
        community_reason(dir.path(), &ratings, "past-lives-2023"),
        serde_json::json!(["The Godfather"])
    );

    // A rating that is not a half star refuses the whole file, naming the line.
    std::fs::write(&csv, "u1,Heat,1995,4\nu2,Heat,1995,4.2\n").unwrap();
    let out = movietalk(
        dir.path(),
        &["import", "community-ratings", csv.to_str().unwrap()],
    );
    let err = failure(&out);
    assert!(err.contains("line 2") && err.contains("4.2"), "{err}");
}

/// A Letterboxd ratings file in `dir` holding one five-star rating.
fn one_rating(dir: &Path, title: &str, year: i32) -> std::path::PathBuf {
    let path = dir.join("ratings.csv");
    std::fs::write(
        &path,
        format!("Date,Name,Year,Letterboxd URI,Rating\n2024-01-01,{title},{year},,5\n"),
    )
    .unwrap();
    path
}

/// The community reasons `movietalk recommend --ratings FILE` gives for the film `key`, which
/// must be among the picks.
fn community_reason(data: &Path, ratings: &Path, key: &str) -> serde_json::Value {
    let recs = json(&movietalk(
        data,
        &[
            "recommend",
            "--ratings",
            ratings.to_str().unwrap(),
            "--json",
        ],
    ));
    let pick = recs["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["movie"]["key"] == key)
        .unwrap_or_else(|| panic!("{key} is recommended: {recs}"));
    pick["reason"]["community"].clone()
}
