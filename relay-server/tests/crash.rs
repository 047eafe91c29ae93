//! The relay process is killed with SIGKILL while a client is sending, then restarted on the
//! same database: every acknowledged message is there, in order, and nothing is stored twice —
//! even when the client resends everything it is not sure about.

#[path = "support/store.rs"]
mod store;

use std::ffi::OsString;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use movietalk_core::relay_client::RelayClient;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The relay process; killed when dropped, so a failing test leaves nothing running.
struct Relay(Child);

impl Relay {
    fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }
    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The relay's `--db`: a SQLite file in `dir`, or a fresh PostgreSQL schema (see `store`).
fn database(dir: &std::path::Path) -> OsString {
    if store::on_postgres() {
        store::postgres_url_for(&store::new_schema()).into()
    } else {
        dir.join("relay.sqlite3").into()
    }
}

fn spawn_relay(db: &std::ffi::OsStr, port: u16) -> Relay {
    // The write rate limit is lifted: this test writes as fast as it can on purpose.
    Relay(
        Command::new(env!("CARGO_BIN_EXE_relay-server"))
            .args([
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--writes-per-sec",
                "1000000",
                "--address-writes-per-sec",
                "1000000",
                "--frames-per-sec",
                "1000000",
                "--db",
            ])
            .arg(db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("relay-server starts"),
    )
}

async fn connect(url: &str, name: &str) -> RelayClient {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match RelayClient::connect(url, name).await {
            Ok((client, _events)) => return client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("relay did not come up: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill_and_resends_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let mut relay = spawn_relay(&db, port);
    let client = connect(&url, "sender").await;
    client.join("crash", None).await.unwrap();

    // Send until the process is killed under us; remember what was acknowledged.
    const N: u64 = 400;
    let kill_after = 150;
    let mut acked: Vec<(String, u64)> = Vec::new();
    for i in 0..N {
        let id = format!("msg-{i}");
        if i == kill_after {
            // Kill while this send is in flight: its outcome is unknown to the client.
            let pending = {
                let c = client.clone();
                let id = id.clone();
                tokio::spawn(async move { c.send_with_id("crash", &id, "in flight").await })
            };
            relay.kill().expect("SIGKILL");
            relay.wait().unwrap();
            if let Ok(Ok(seq)) = pending.await {
                acked.push((id, seq));
            }
            break;
        }
        let seq = client
            .send_with_id("crash", &id, &format!("message {i}"))
            .await
            .unwrap();
        acked.push((id, seq));
    }
    assert!(
        acked.len() as u64 >= kill_after,
        "sent {} before the kill",
        acked.len()
    );

    let mut relay = spawn_relay(&db, port);
    let client = connect(&url, "sender").await;
    // Read back everything from the start, page by page.
    client.join("crash", None).await.unwrap();
    let mut stored = Vec::new();
    let mut since = 0;
    loop {
        let page = client.join("crash", Some(since)).await.unwrap().history;
        if page.is_empty() {
            break;
        }
        since = page.last().unwrap().seq;
        stored.extend(page);
    }
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "gapless sequence after the crash"
    );
    for (id, seq) in &acked {
        let m = stored
            .iter()
            .find(|m| &m.client_id == id)
            .unwrap_or_else(|| panic!("acknowledged {id} was lost"));
        assert_eq!(m.seq, *seq, "{id} kept its sequence");
    }

    // The client resends everything from the kill point on (it cannot know what landed).
    let before = stored.len() as u64;
    for i in kill_after.saturating_sub(5)..=kill_after {
        client
            .send_with_id("crash", &format!("msg-{i}"), "resent")
            .await
            .unwrap();
    }
    let after = client.join("crash", Some(0)).await.unwrap();
    let mut total = after.history.len() as u64;
    let mut since = after.history.last().map(|m| m.seq).unwrap_or(0);
    loop {
        let page = client.join("crash", Some(since)).await.unwrap().history;
        if page.is_empty() {
            break;
        }
        since = page.last().unwrap().seq;
        total += page.len() as u64;
    }
    let in_flight_landed = stored
        .iter()
        .any(|m| m.client_id == format!("msg-{kill_after}"));
    assert_eq!(
        total,
        before + u64::from(!in_flight_landed),
        "resends were stored once"
    );
    relay.kill().unwrap();
    relay.wait().unwrap();
}

fn review_request(i: u64) -> movietalk_protocol::relay::ClientMessage {
    movietalk_protocol::relay::ClientMessage::PutReview {
        client_id: format!("review-{i}"),
        movie_key: format!("film-{i}-2000"),
        title: format!("Film {i}"),
        year: Some(2000),
        rating: 4.0,
        body: format!("review {i}"),
        spoiler: false,
        edited_at_ms: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_reviews_survive_sigkill_and_resends_are_stored_once() {
    use movietalk_protocol::relay::{ClientMessage, ServerMessage};
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let mut relay = spawn_relay(&db, port);
    let client = connect(&url, "critic").await;
    let token = client
        .sign_up("critic", "critic password", None)
        .await
        .unwrap()
        .token
        .unwrap();

    let kill_after = 60u64;
    let mut acked = Vec::new();
    for i in 0..200u64 {
        if i == kill_after {
            let pending = {
                let c = client.clone();
                tokio::spawn(async move { c.call(review_request(i)).await })
            };
            relay.kill().expect("SIGKILL");
            relay.wait().unwrap();
            if let Ok(Ok(ServerMessage::ReviewSaved { review, .. })) = pending.await {
                acked.push(review.id);
            }
            break;
        }
        match client.call(review_request(i)).await.unwrap() {
            ServerMessage::ReviewSaved { review, .. } => acked.push(review.id),
            other => panic!("{other:?}"),
        }
    }

    let mut relay = spawn_relay(&db, port);
    let client = connect(&url, "critic").await;
    client
        .authenticate(&token)
        .await
        .expect("the session survives the crash");
    let list = |client: movietalk_core::relay_client::RelayClient| async move {
        match client
            .call(ClientMessage::ReviewsByUser {
                handle: "critic".into(),
                cursor: None,
                limit: 200,
            })
            .await
            .unwrap()
        {
            ServerMessage::Reviews { reviews, .. } => reviews,
            other => panic!("{other:?}"),
        }
    };
    let stored = list(client.clone()).await;
    for id in &acked {
        assert!(
            stored.iter().any(|r| r.id == *id),
            "acknowledged review {id} was lost"
        );
    }
    let before = stored.len();
    // Resend everything around the kill: nothing is stored twice.
    for i in kill_after.saturating_sub(5)..=kill_after {
        client.call(review_request(i)).await.unwrap();
    }
    let after = list(client.clone()).await;
    let in_flight_landed = stored
        .iter()
        .any(|r| r.movie_key == format!("film-{kill_after}-2000"));
    assert_eq!(
        after.len(),
        before + usize::from(!in_flight_landed),
        "resent reviews were stored once"
    );
    relay.kill().unwrap();
    relay.wait().unwrap();
}
