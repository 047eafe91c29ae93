//! Two relay instances on one PostgreSQL database, with real WebSocket clients on each: what
//! one instance stores, the other serves; chat numbers stay gapless and a resend through the
//! other instance is stored once. Needs a PostgreSQL server (`MOVIETALK_TEST_POSTGRES`, which
//! `cargo xtask test` provides); without one each test says it skipped.
//!
//! Live delivery, typing, deletions, kicks and presence cross instances through PostgreSQL's
//! LISTEN/NOTIFY (`pg/mod.rs`, `peers.rs`). Not covered here: an instance that dies stops
//! counting for presence only after `peers::PEER_TIMEOUT` (20 s).

#[path = "support/http.rs"]
mod http;
#[path = "support/store.rs"]
mod store;

use std::collections::BTreeSet;
use std::sync::Arc;

use movietalk_core::relay_client::{RelayClient, RelayEvent};
use movietalk_protocol::relay::{ChangeKind, ClientMessage, ServerMessage};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::metrics::Metrics;
use movietalk_relay::{Config, RunningRelay, start};
use std::sync::atomic::Ordering::Relaxed;

fn config() -> Config {
    Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        // Every client here posts in bursts well past a person's rate.
        frame_burst: 1_000.0,
        write_burst: 1_000.0,
        ..Config::default()
    }
}

/// The change log after `since`, a page of `limit`.
async fn changes_since(
    client: &RelayClient,
    since: u64,
    limit: u32,
) -> Vec<movietalk_protocol::relay::Change> {
    match client
        .call(ClientMessage::ChangesSince { since, limit })
        .await
        .unwrap()
    {
        ServerMessage::Changes { changes, .. } => changes,
        other => panic!("{other:?}"),
    }
}

/// Two relays on one fresh schema, or `None` (and a note) with no PostgreSQL configured.
async fn two_instances(test: &str) -> Option<(RunningRelay, RunningRelay)> {
    let schema = schema(test)?;
    Some((instance(&schema).await, instance(&schema).await))
}

/// A relay on `schema`, and its counters.
async fn instance_with_metrics(schema: &str) -> (RunningRelay, Arc<Metrics>) {
    let s = schema.to_owned();
    let pg = tokio::task::spawn_blocking(move || store::postgres_store(&s))
        .await
        .unwrap();
    let config = config();
    let metrics = config.metrics.clone();
    let relay = start("127.0.0.1:0".parse().unwrap(), config, Arc::new(pg))
        .await
        .unwrap();
    (relay, metrics)
}

/// A fresh schema, or `None` (and a note) with no PostgreSQL configured.
fn schema(test: &str) -> Option<String> {
    if store::postgres_url().is_none() {
        eprintln!(
            "{test}: skipped: no PostgreSQL server (set MOVIETALK_TEST_POSTGRES, or run `cargo xtask test`)"
        );
        return None;
    }
    Some(store::new_schema())
}

/// A relay on `schema`.
async fn instance(schema: &str) -> RunningRelay {
    instance_with_metrics(schema).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_to_one_room_through_two_instances_are_numbered_gaplessly() {
    let Some((a, b)) = two_instances("gapless").await else {
        return;
    };
    const PER_CLIENT: u64 = 40;
    let mut senders = Vec::new();
    for (i, relay) in [&a, &b, &a, &b].into_iter().enumerate() {
        let url = relay.url();
        senders.push(tokio::spawn(async move {
            let name = format!("guest{i}");
            let (c, _events) = RelayClient::connect(&url, &name).await.unwrap();
            c.join("film:parasite-2019", None).await.unwrap();
            let mut acked = Vec::new();
            for n in 0..PER_CLIENT {
                let seq = c
                    .send_with_id(
                        "film:parasite-2019",
                        &format!("{name}-{n}"),
                        &format!("{name} says {n}"),
                    )
                    .await
                    .unwrap();
                acked.push((seq, format!("{name} says {n}")));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    let total = 4 * PER_CLIENT;
    let seqs: BTreeSet<u64> = acked.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs.len() as u64, total, "no number was acknowledged twice");
    assert_eq!(
        seqs,
        (1..=total).collect::<BTreeSet<u64>>(),
        "the numbers are gapless across both instances"
    );

    // Either instance serves the whole conversation, each message under its acknowledged number.
    for relay in [&a, &b] {
        let (reader, _e) = RelayClient::connect(&relay.url(), "reader").await.unwrap();
        let mut history = Vec::new();
        let mut after = 0;
        loop {
            let page = reader
                .join("film:parasite-2019", Some(after))
                .await
                .unwrap();
            if page.history.is_empty() {
                break;
            }
            after = page.history.last().unwrap().seq;
            history.extend(page.history);
            reader.leave("film:parasite-2019").await.unwrap();
        }
        let stored: Vec<(u64, String)> = history.into_iter().map(|m| (m.seq, m.text)).collect();
        let mut expected = acked.clone();
        expected.sort();
        assert_eq!(stored, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_through_the_other_instance_is_stored_once() {
    let Some((a, b)) = two_instances("resend").await else {
        return;
    };
    let (on_a, mut events_a) = RelayClient::connect(&a.url(), "mina").await.unwrap();
    on_a.join("r", None).await.unwrap();
    let first = on_a.send_with_id("r", "outbox-1", "hello").await.unwrap();
    // The app's outbox lost the acknowledgement and reconnected to the other instance.
    let (on_b, _eb) = RelayClient::connect(&b.url(), "mina").await.unwrap();
    on_b.join("r", None).await.unwrap();
    assert_eq!(
        on_b.send_with_id("r", "outbox-1", "hello").await.unwrap(),
        first
    );
    let next = on_b.send_with_id("r", "outbox-2", "again").await.unwrap();
    assert_eq!(next, first + 1);
    // The first window, still on the first instance, sees each message once.
    let mut live = Vec::new();
    while live.len() < 2 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), events_a.recv()).await {
            Ok(Some(RelayEvent::Message(m))) => live.push((m.seq, m.text)),
            Ok(Some(_)) => {}
            other => panic!("{other:?} after {live:?}"),
        }
    }
    assert_eq!(
        live,
        [(first, "hello".to_owned()), (next, "again".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_reviews_written_on_one_instance_are_served_by_the_other() {
    let Some((a, b)) = two_instances("accounts").await else {
        return;
    };
    let (on_a, _ea) = RelayClient::connect(&a.url(), "jun").await.unwrap();
    on_a.sign_up("jun", "a long password", None).await.unwrap();
    let review = on_a
        .call(ClientMessage::PutReview {
            client_id: "rev-1".into(),
            movie_key: "parasite-2019".into(),
            title: "Parasite".into(),
            year: Some(2019),
            rating: 4.5,
            body: "stairs everywhere".into(),
            spoiler: false,
            edited_at_ms: None,
        })
        .await
        .unwrap();
    assert!(
        matches!(review, ServerMessage::ReviewSaved { .. }),
        "{review:?}"
    );

    // The same account logs in on the other instance, and its review is in that one's log.
    let (on_b, _eb) = RelayClient::connect(&b.url(), "laptop").await.unwrap();
    on_b.log_in("jun", "a long password").await.unwrap();
    assert!(
        on_b.log_in("jun", "the wrong password").await.is_err(),
        "the other instance checks the same password hash"
    );
    let changes = changes_since(&on_b, 0, 100).await;
    let bodies: Vec<_> = changes
        .iter()
        .filter_map(|c| match &c.what {
            ChangeKind::ReviewPut { review } => Some(review.body.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["stairs everywhere"]);

    // A handle taken on one instance is taken on the other.
    let (other, _eo) = RelayClient::connect(&b.url(), "someone").await.unwrap();
    assert!(
        other
            .sign_up("jun", "another long password", None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_numbers_from_two_instances_follow_commit_order() {
    let Some((a, b)) = two_instances("changes").await else {
        return;
    };
    // Reviews written at once through both instances: every change number is used once, and
    // a reader paging after its cursor while they are written misses none of them.
    let mut writers = Vec::new();
    for (i, relay) in [&a, &b, &a, &b].into_iter().enumerate() {
        let url = relay.url();
        writers.push(tokio::spawn(async move {
            let handle = format!("critic{i}");
            let (c, _e) = RelayClient::connect(&url, &handle).await.unwrap();
            c.sign_up(&handle, "a long password", None).await.unwrap();
            for n in 0..15 {
                let key = format!("film-{n}");
                c.call(ClientMessage::PutReview {
                    client_id: format!("rev-{n}"),
                    movie_key: key,
                    title: "A film".into(),
                    year: Some(2000),
                    rating: 3.0,
                    body: String::new(),
                    spoiler: false,
                    edited_at_ms: None,
                })
                .await
                .unwrap();
            }
        }));
    }
    let (reader, _e) = RelayClient::connect(&a.url(), "reader").await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = 0;
    let pull = |since: u64| changes_since(&reader, since, 7);
    while writers.iter().any(|w| !w.is_finished()) {
        for c in pull(cursor).await {
            cursor = c.seq;
            seen.push(c.seq);
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    loop {
        let page = pull(cursor).await;
        if page.is_empty() {
            break;
        }
        for c in page {
            cursor = c.seq;
            seen.push(c.seq);
        }
    }
    assert_eq!(
        seen.len(),
        60,
        "every review's change, pulled while they were written"
    );
    let distinct: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), 60, "no change pulled twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_on_each_instance_get_every_message_live_in_order_once() {
    let Some(schema) = schema("live") else {
        return;
    };
    let (a, metrics_a) = instance_with_metrics(&schema).await;
    let (b, metrics_b) = instance_with_metrics(&schema).await;
    let mut listeners = Vec::new();
    for relay in [&a, &b] {
        let (c, events) = RelayClient::connect(&relay.url(), "listener")
            .await
            .unwrap();
        c.join("r", None).await.unwrap();
        listeners.push((c, events));
    }
    const PER_POSTER: u64 = 30;
    let mut posters = Vec::new();
    for (i, relay) in [&a, &b].into_iter().enumerate() {
        let url = relay.url();
        posters.push(tokio::spawn(async move {
            let name = format!("poster{i}");
            let (c, _e) = RelayClient::connect(&url, &name).await.unwrap();
            c.join("r", None).await.unwrap();
            for n in 0..PER_POSTER {
                c.send_with_id("r", &format!("{name}-{n}"), &format!("{name} {n}"))
                    .await
                    .unwrap();
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
    let total = 2 * PER_POSTER;
    for (i, (_c, events)) in listeners.iter_mut().enumerate() {
        let mut got = Vec::new();
        while (got.len() as u64) < total {
            match tokio::time::timeout(std::time::Duration::from_secs(10), events.recv()).await {
                Ok(Some(RelayEvent::Message(m))) => got.push(m.seq),
                Ok(Some(_)) => {}
                Ok(None) => panic!("listener {i}: the connection ended"),
                Err(_) => panic!("listener {i}: only {got:?} arrived"),
            }
        }
        assert_eq!(
            got,
            (1..=total).collect::<Vec<_>>(),
            "listener {i} got every number once, in order, whichever instance stored it"
        );
    }
    for m in [&metrics_a, &metrics_b] {
        assert_eq!(
            m.messages_total.load(Relaxed),
            PER_POSTER,
            "each stored its poster's"
        );
        assert_eq!(
            m.peer_messages_total.load(Relaxed),
            PER_POSTER,
            "and fanned out the other's"
        );
        assert_eq!(m.peer_instances.load(Relaxed), 1);
    }
}

/// The next event of `events` that `wanted` picks, within ten seconds.
async fn next_matching(
    events: &mut tokio::sync::mpsc::Receiver<RelayEvent>,
    what: &str,
    wanted: impl Fn(&RelayEvent) -> bool,
) -> RelayEvent {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) if wanted(&e) => return e,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the connection ended waiting for {what}"),
            Err(_) => panic!("no {what} within ten seconds"),
        }
    }
}

/// Waits until `room`'s presence, as told to `events`, is `n`.
async fn presence_becomes(
    events: &mut tokio::sync::mpsc::Receiver<RelayEvent>,
    room: &str,
    n: u32,
) {
    next_matching(
        events,
        &format!("presence {n} in {room}"),
        |e| matches!(e, RelayEvent::Presence { room: r, present } if r == room && *present == n),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_distinct_people_across_instances() {
    let Some((a, b)) = two_instances("presence").await else {
        return;
    };
    let (alice_a, mut events_a) = RelayClient::connect(&a.url(), "alice").await.unwrap();
    assert_eq!(alice_a.join("r", None).await.unwrap().present, 1);
    // Alice again, in a window on the other instance: still one person.
    let (alice_b, mut events_b) = RelayClient::connect(&b.url(), "alice").await.unwrap();
    alice_b.join("r", None).await.unwrap();
    let (bob_b, _bob_events) = RelayClient::connect(&b.url(), "bob").await.unwrap();
    bob_b.join("r", None).await.unwrap();
    presence_becomes(&mut events_a, "r", 2).await;
    presence_becomes(&mut events_b, "r", 2).await;
    let rooms = alice_a.list_rooms().await.unwrap();
    let r = rooms
        .iter()
        .find(|r| r.name == "r")
        .expect("the room is listed");
    assert_eq!(r.present, 2, "alice twice and bob are two people");
    // Alice closes the window on the first instance: she is still here through the other.
    alice_a.leave("r").await.unwrap();
    bob_b.leave("r").await.unwrap();
    presence_becomes(&mut events_b, "r", 1).await;
    // Alice (on the other instance) is all the first instance counts once it has heard.
    let (carol_a, _ce) = RelayClient::connect(&a.url(), "carol").await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rooms = carol_a.list_rooms().await.unwrap();
        let present = rooms.iter().find(|r| r.name == "r").map(|r| r.present);
        if present == Some(1) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first instance still counts {present:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_deletions_and_kicks_reach_members_on_the_other_instance() {
    let Some((a, b)) = two_instances("room events").await else {
        return;
    };
    let (host, mut host_events) = RelayClient::connect(&a.url(), "host").await.unwrap();
    host.sign_up("host", "a long password", None).await.unwrap();
    host.create_room("noir-club", "Film noir").await.unwrap();
    host.join("noir-club", None).await.unwrap();
    let (troll, mut troll_events) = RelayClient::connect(&b.url(), "troll").await.unwrap();
    troll
        .sign_up("troll", "a long password", None)
        .await
        .unwrap();
    troll.join("noir-club", None).await.unwrap();
    let (fan, mut fan_events) = RelayClient::connect(&b.url(), "fan").await.unwrap();
    fan.join("noir-club", None).await.unwrap();

    host.typing("noir-club").await.unwrap();
    next_matching(
        &mut fan_events,
        "typing",
        |e| matches!(e, RelayEvent::Typing { who, .. } if who == "host"),
    )
    .await;

    let bad = troll.send("noir-club", "spoilers!").await.unwrap();
    next_matching(
        &mut host_events,
        "the troll's message",
        |e| matches!(e, RelayEvent::Message(m) if m.seq == bad),
    )
    .await;
    host.delete_message("noir-club", bad).await.unwrap();
    next_matching(
        &mut fan_events,
        "the deletion",
        |e| matches!(e, RelayEvent::MessageDeleted { seq, .. } if *seq == bad),
    )
    .await;

    host.call(ClientMessage::Kick {
        room: "noir-club".into(),
        handle: "troll".into(),
    })
    .await
    .unwrap();
    next_matching(&mut troll_events, "the kick", |e| {
        matches!(e, RelayEvent::Kicked { .. })
    })
    .await;
    assert!(
        troll.send("noir-club", "again").await.is_err(),
        "the kicked connection is out of the room on its own instance"
    );
    assert!(
        troll.join("noir-club", None).await.is_err(),
        "and the ban holds there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_later_learns_who_is_where() {
    let Some(schema) = schema("later") else {
        return;
    };
    let a = instance(&schema).await;
    let (alice, _ea) = RelayClient::connect(&a.url(), "alice").await.unwrap();
    alice.join("r", None).await.unwrap();
    let (bob, _eb) = RelayClient::connect(&a.url(), "bob").await.unwrap();
    bob.join("r", None).await.unwrap();

    // The new instance says Hello once it listens; the first answers with its people.
    let b = instance(&schema).await;
    let (carol, _ec) = RelayClient::connect(&b.url(), "carol").await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rooms = carol.list_rooms().await.unwrap();
        if rooms.iter().any(|r| r.name == "r" && r.present == 2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the later instance never counted alice and bob: {rooms:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(carol.join("r", None).await.unwrap().present, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_carry_on_when_their_database_connections_are_cut() {
    let Some(schema) = schema("cut") else {
        return;
    };
    let a = instance(&schema).await;
    let b = instance(&schema).await;
    let (listener, mut events) = RelayClient::connect(&b.url(), "listener").await.unwrap();
    listener.join("r", None).await.unwrap();
    let (poster, _pe) = RelayClient::connect(&a.url(), "poster").await.unwrap();
    poster.join("r", None).await.unwrap();
    let first = poster.send_with_id("r", "m1", "before").await.unwrap();
    next_matching(
        &mut events,
        "the first message",
        |e| matches!(e, RelayEvent::Message(m) if m.seq == first),
    )
    .await;

    // Every connection of both relays to the database is cut, as a database restart would:
    // each relay's pool, writer, listener and peer outbox.
    let cut = tokio::task::spawn_blocking({
        let schema = schema.clone();
        move || store::cut_connections(&schema)
    })
    .await
    .unwrap();
    assert!(cut >= 2 * 8, "{cut} connections cut");

    // Nothing fails: each call that meets a closed connection is made again on a new one.
    let second = poster.send_with_id("r", "m2", "after").await.unwrap();
    assert_eq!(second, first + 1);
    // The other instance hears of it (its listener connects again and catches up).
    next_matching(
        &mut events,
        "the message after the cut",
        |e| matches!(e, RelayEvent::Message(m) if m.seq == second && m.text == "after"),
    )
    .await;
    for client in [&listener, &poster] {
        let rooms = client.list_rooms().await.unwrap();
        assert!(rooms.iter().any(|r| r.name == "r"), "{rooms:?}");
    }
    let (later, _le) = RelayClient::connect(&a.url(), "later").await.unwrap();
    later
        .sign_up("later", "a long password", None)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_on_other_schemas_of_the_same_database_hear_nothing_of_each_other() {
    let (Some(one), Some(other)) = (schema("isolation"), schema("isolation")) else {
        return;
    };
    let x = instance(&one).await;
    let y = instance(&other).await;
    let (alice, _ea) = RelayClient::connect(&x.url(), "alice").await.unwrap();
    alice.join("r", None).await.unwrap();
    alice.send("r", "only for this deployment").await.unwrap();
    alice.typing("r").await.unwrap();
    let (bob, mut bob_events) = RelayClient::connect(&y.url(), "bob").await.unwrap();
    assert_eq!(bob.join("r", None).await.unwrap().present, 1);
    // Long enough for the other deployment's notifications to have arrived, had they leaked.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (carol, _ec) = RelayClient::connect(&y.url(), "carol").await.unwrap();
    let joined = carol.join("r", None).await.unwrap();
    assert_eq!(joined.present, 2, "bob and carol, not alice");
    assert!(joined.history.is_empty(), "{:?}", joined.history);
    while let Ok(e) = bob_events.try_recv() {
        assert!(
            !matches!(e, RelayEvent::Message(_) | RelayEvent::Typing { .. }),
            "{e:?} leaked from the other deployment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_is_stopped_stops_counting_at_once() {
    let Some(schema) = schema("bye") else {
        return;
    };
    // The first instance is a relay-server process, stopped as an operator would (SIGTERM):
    // what it says on the way out (its people leaving, then Bye) must leave the process
    // before it exits.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_relay-server"))
        .args(["--bind", &format!("127.0.0.1:{port}"), "--db"])
        .arg(store::postgres_url_for(&schema))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("relay-server starts");
    let url = format!("ws://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let (alice, _ea) = loop {
        match RelayClient::connect(&url, "alice").await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "relay did not come up: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    alice.join("r", None).await.unwrap();
    let (b, metrics_b) = instance_with_metrics(&schema).await;
    let (bob, mut bob_events) = RelayClient::connect(&b.url(), "bob").await.unwrap();
    bob.join("r", None).await.unwrap();
    presence_becomes(&mut bob_events, "r", 2).await;
    assert_eq!(metrics_b.peer_instances.load(Relaxed), 1);

    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(process.wait().unwrap().success(), "a graceful stop");
    // Its people left as their connections closed, and it said Bye: within ten seconds, well
    // before the 20 s after which the other instance would stop counting a silent one anyway.
    presence_becomes(&mut bob_events, "r", 1).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while metrics_b.peer_instances.load(Relaxed) != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stopped instance still counts as a peer"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_so_when_the_database_is_not_there() {
    let Some(schema) = schema("health") else {
        return;
    };
    let metrics_addr: std::net::SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = schema.clone();
    let pg = tokio::task::spawn_blocking(move || store::postgres_store(&s))
        .await
        .unwrap();
    let config = Config {
        metrics_listener: Some(metrics_addr),
        ..config()
    };
    let _relay = start("127.0.0.1:0".parse().unwrap(), config, Arc::new(pg))
        .await
        .unwrap();
    let health = http::http_get(metrics_addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The relay's tables are gone (a schema dropped, a database restored elsewhere): a load
    // balancer must stop sending people here.
    tokio::task::spawn_blocking(move || store::drop_schema(&schema))
        .await
        .unwrap();
    let health = http::http_get(metrics_addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    assert!(health.contains("store:"), "{health}");
}

/// The reason a client's connection was closed with, waiting at most 5 s.
async fn disconnected(events: &mut tokio::sync::mpsc::Receiver<RelayEvent>) -> String {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), events.recv()).await {
            Ok(Some(RelayEvent::Disconnected { reason })) => return reason,
            Ok(Some(_)) => continue,
            other => panic!("the connection was not closed: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_instance_ends_at_once_on_the_other() {
    let Some((a, b)) =
        two_instances("a_session_ended_on_one_instance_ends_at_once_on_the_other").await
    else {
        return;
    };
    let (on_a, _) = RelayClient::connect(&a.url(), "x").await.unwrap();
    on_a.sign_up("hyun", "hyun password", None).await.unwrap();
    // A connection on the other instance in a second session, and one in the same session.
    let (second, mut second_events) = RelayClient::connect(&b.url(), "x").await.unwrap();
    let theirs = second.log_in("hyun", "hyun password").await.unwrap();
    second.join("lobby", None).await.unwrap();
    on_a.revoke_session(theirs.session_id).await.unwrap();
    assert_eq!(
        disconnected(&mut second_events).await,
        "session ended: revoked"
    );

    // Deleting the account on one instance ends its connections on the other too.
    let (third, mut third_events) = RelayClient::connect(&b.url(), "x").await.unwrap();
    third.log_in("hyun", "hyun password").await.unwrap();
    on_a.delete_account("hyun password").await.unwrap();
    assert_eq!(
        disconnected(&mut third_events).await,
        "session ended: the account was deleted"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
