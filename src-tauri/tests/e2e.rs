//! End to end: the built app in a real WebKitGTK window, driven through tauri-driver and
//! WebKitWebDriver, against a relay started by the test. Needs an X display (Xvfb), so it is
//! ignored by a plain `cargo test`; `cargo xtask test` runs it with `--include-ignored`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use movietalk_core::Catalog;
use movietalk_core::relay_client::{RelayClient, RelayEvent};
use serde_json::json;

const APP_USER: &str = "e2e-app";
const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("MOVIETALK_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `probe` until it yields a value or [`WAIT`] passes; panics with `what` on timeout.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `data-key` of every movie card on screen.
async fn card_keys(client: &Client) -> Vec<String> {
    let mut keys = Vec::new();
    for card in client
        .find_all(Locator::Css("#movies .movie-card"))
        .await
        .unwrap_or_default()
    {
        if let Ok(Some(k)) = card.attr("data-key").await {
            keys.push(k);
        }
    }
    keys
}

/// Waits until the cards on screen are exactly `expected` (in any order).
async fn wait_for_cards(client: &Client, what: &str, expected: &[String]) {
    let mut want = expected.to_vec();
    want.sort();
    eventually(what, || async {
        let mut got = card_keys(client).await;
        got.sort();
        (got == want).then_some(())
    })
    .await;
}

async fn type_search(client: &Client, text: &str) {
    let search = client.find(Locator::Id("search")).await.unwrap();
    search.clear().await.unwrap();
    if text.is_empty() {
        // WebKitWebDriver refuses empty key sequences; `clear` does not fire `input`, so
        // send a character and erase it to make the UI see the empty box.
        search.send_keys("x\u{E003}").await.unwrap();
    } else {
        search.send_keys(text).await.unwrap();
    }
}

async fn connect_webdriver(port: u16, app: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("tauri:options".into(), json!({ "application": app }));
    caps.insert("browserName".into(), json!("wry"));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return client,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for tauri-driver: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("tauri-driver did not come up: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Xvfb, tauri-driver and WebKitWebDriver: run through `cargo xtask test`"]
async fn movie_list_search_and_chat_in_a_real_window() {
    let store = std::sync::Arc::new(movietalk_relay::store::SqliteStore::in_memory().unwrap());
    let relay = movietalk_relay::start("127.0.0.1:0".parse().unwrap(), Default::default(), store)
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let native_port = free_port();
    let mut driver = tokio::process::Command::new("tauri-driver")
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        .env("MOVIETALK_DATA_DIR", data.path())
        .env("MOVIETALK_RELAY_URL", relay.url())
        .env("MOVIETALK_USER_NAME", APP_USER)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("tauri-driver is installed (cargo xtask setup)");

    // What the window should show, computed from the same starter catalog by the core.
    let expected = {
        let mut c = Catalog::open_in_memory().unwrap();
        c.seed_if_empty().unwrap();
        c
    };
    let keys_for = |q: &str| -> Vec<String> {
        let q = movietalk_core::SearchQuery {
            text: q.into(),
            limit: 120,
            ..Default::default()
        };
        let found = expected.search(&q).unwrap();
        found.movies.into_iter().map(|m| m.key).collect()
    };

    let client = connect_webdriver(port, env!("CARGO_BIN_EXE_movietalk-app")).await;
    let outcome = async {
        // 1. The movie list renders from the SQLite file the app seeded in its data folder.
        let all = keys_for("");
        let shown = eventually("the movie list", || async {
            let keys = card_keys(&client).await;
            (!keys.is_empty()).then_some(keys)
        })
        .await;
        assert_eq!(
            shown.len(),
            all.len(),
            "one page of the starter catalog is listed"
        );
        assert!(
            data.path().join(movietalk_core::paths::DB_FILE).is_file(),
            "the app created its database"
        );
        let count = client
            .find(Locator::Id("result-count"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let total = expected.count().unwrap().to_string();
        assert!(count.starts_with(&total), "result count {count:?}");

        // 2. Typing filters the list: English, then a partial Korean title.
        type_search(&client, "godfather").await;
        let godfather = keys_for("godfather");
        assert!(godfather.contains(&"the-godfather-1972".to_owned()));
        wait_for_cards(&client, "the Godfather films", &godfather).await;

        type_search(&client, "기생").await;
        let parasite = keys_for("기생");
        assert!(parasite.contains(&"parasite-2019".to_owned()));
        wait_for_cards(&client, "기생충 (Parasite)", &parasite).await;

        type_search(&client, "zzqqxx").await;
        // Nothing matches: popular films are shown instead, and the window says so.
        eventually("the fallback note", || async {
            client.find(Locator::Id("fallback-note")).await.ok()
        })
        .await;
        assert!(
            !card_keys(&client).await.is_empty(),
            "the fallback lists films"
        );

        type_search(&client, "").await;
        wait_for_cards(&client, "the full list again", &shown).await;

        // 3. Chat: the window joins a room; another client's message shows up in it.
        client
            .find(Locator::Id("join"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        eventually("the join to complete", || async {
            let text = client
                .find(Locator::Id("present"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.starts_with('1').then_some(())
        })
        .await;
        let (bob, mut bob_events) = RelayClient::connect(&relay.url(), "bob").await.unwrap();
        bob.join("lobby", None).await.unwrap();
        eventually("presence to count two people", || async {
            let text = client
                .find(Locator::Id("present"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.starts_with('2').then_some(())
        })
        .await;
        bob.send("lobby", "hello from bob — 안녕하세요")
            .await
            .unwrap();
        eventually("bob's message in the window", || async {
            for m in client
                .find_all(Locator::Css("#messages .chat-message"))
                .await
                .ok()?
            {
                let text = m.text().await.ok()?;
                if text.contains("bob") && text.contains("hello from bob — 안녕하세요") {
                    return Some(());
                }
            }
            None
        })
        .await;

        // ...and what the window sends reaches the other client.
        let input = client.find(Locator::Id("chat-input")).await.unwrap();
        input.send_keys("hi bob, from the window").await.unwrap();
        client
            .find(Locator::Id("send"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let got = loop {
            match tokio::time::timeout(WAIT, bob_events.recv())
                .await
                .expect("bob hears the window in time")
            {
                Some(RelayEvent::Message(m)) if m.author == APP_USER => break m,
                Some(RelayEvent::Disconnected { reason }) => {
                    panic!("bob was disconnected: {reason}")
                }
                Some(_) => continue,
                None => panic!("bob's event stream ended"),
            }
        };
        assert_eq!(got.text, "hi bob, from the window");
        assert_eq!(got.room, "lobby");

        // 4. The language switch re-renders the UI in Korean.
        let before = client
            .find(Locator::Id("search"))
            .await
            .unwrap()
            .attr("placeholder")
            .await
            .unwrap();
        client
            .find(Locator::Id("lang-toggle"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let after = eventually("Korean text", || async {
            let p = client
                .find(Locator::Id("search"))
                .await
                .ok()?
                .attr("placeholder")
                .await
                .ok()??;
            (p != before.clone().unwrap_or_default()).then_some(p)
        })
        .await;
        assert!(
            after.contains("검색"),
            "placeholder after switching: {after:?}"
        );

        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        let path = artifacts_dir().join("e2e-main-window.png");
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot saved to {}", path.display());
    };
    // Close the session (and the app) whether or not the checks passed, then report.
    let result = std::panic::AssertUnwindSafe(outcome).catch_unwind().await;
    if result.is_err() {
        // Leave evidence of what the window showed when a check failed.
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::write(artifacts_dir().join("e2e-failure.png"), png);
        }
        if let Ok(html) = client.source().await {
            let _ = std::fs::write(artifacts_dir().join("e2e-failure.html"), html);
        }
    }
    let _ = client.close().await;
    let _ = driver.kill().await;
    relay.shutdown().await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
