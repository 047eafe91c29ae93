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
