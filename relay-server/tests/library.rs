//! Watchlists through real WebSocket clients: the later of two offline changes wins, versions
//! answer "unchanged", bad input is refused, and a watchlist stays bounded. Who may read and
//! change whose watchlist is in `authz.rs`. Runs on SQLite, and on PostgreSQL with
//! `MOVIETALK_RELAY_TEST_STORE=postgres`.

#[path = "support/store.rs"]
mod store;

use std::sync::Arc;

use movietalk_core::relay_client::{ClientError, RelayClient};
use movietalk_protocol::relay::{ClientMessage, ErrorCode, MAX_WATCHLIST, ServerMessage};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::library::{KEPT_REMOVALS, WatchlistChange};
use movietalk_relay::{Config, RelayStore, RunningRelay, start};

async fn relay(store: Arc<dyn RelayStore>) -> RunningRelay {
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        writes_per_sec: 1000.0,
        address_writes_per_sec: 1000.0,
        ..Config::default()
    };
    start("127.0.0.1:0".parse().unwrap(), config, store)
        .await
        .unwrap()
}

async fn user(relay: &RunningRelay, handle: &str) -> (RelayClient, u64) {
    let (c, _) = RelayClient::connect(&relay.url(), handle).await.unwrap();
    let id = c
        .sign_up(handle, "a long password", None)
        .await
        .unwrap()
        .account
        .id;
    (c, id)
}

fn set(key: &str, on: bool, at_ms: Option<u64>) -> ClientMessage {
    ClientMessage::SetWatchlist {
        movie_key: key.into(),
        title: format!("Title of {key}"),
        year: Some(1999),
        on,
        at_ms,
    }
}

/// (version, unchanged, film keys) of the caller's own watchlist.
async fn own(c: &RelayClient, since: Option<u64>) -> (u64, bool, Vec<String>) {
    match c
        .call(ClientMessage::Watchlist {
            handle: None,
            since,
        })
        .await
        .unwrap()
    {
        ServerMessage::Watchlist {
            version,
            unchanged,
            films,
            ..
        } => (
            version,
            unchanged,
            films.into_iter().map(|f| f.movie_key).collect(),
        ),
        other => panic!("{other:?}"),
    }
}

/// A change as a store takes it.
fn change(key: &str, on: bool, at_ms: u64) -> WatchlistChange<'_> {
    WatchlistChange {
        movie_key: key,
        title: key,
        year: None,
        on,
        at_ms: Some(at_ms),
    }
}

fn code(r: Result<ServerMessage, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_later_of_two_offline_changes_wins_whatever_order_they_arrive_in() {
    let relay = relay(store::fresh()).await;
    let (laptop, _) = user(&relay, "ana").await;
    let (desktop, _) = RelayClient::connect(&relay.url(), "ana").await.unwrap();
    desktop.log_in("ana", "a long password").await.unwrap();
    let t = movietalk_core::sync::now_ms() - 60_000;

    // Heat: taken off on the laptop at t+20, arriving before an add made on the desktop at t+10.
    laptop.call(set("heat-1995", true, Some(t))).await.unwrap();
    laptop
        .call(set("heat-1995", false, Some(t + 20)))
        .await
        .unwrap();
    desktop
        .call(set("heat-1995", true, Some(t + 10)))
        .await
        .unwrap();
    // Ran: added on the laptop at t+30, arriving after a removal made on the desktop at t+40.
    desktop
        .call(set("ran-1985", false, Some(t + 40)))
        .await
        .unwrap();
    laptop
        .call(set("ran-1985", true, Some(t + 30)))
        .await
        .unwrap();
    // Alien: added at t+5, then again at t+50: still one entry, listed since the first add.
    laptop
        .call(set("alien-1979", true, Some(t + 5)))
        .await
        .unwrap();
    desktop
        .call(set("alien-1979", true, Some(t + 50)))
        .await
        .unwrap();
    // Oldboy: a clock far ahead counts as the relay's now, so a real later change still wins.
    laptop
        .call(set("oldboy-2003", true, Some(u64::MAX / 2)))
        .await
        .unwrap();
    desktop.call(set("oldboy-2003", false, None)).await.unwrap();

    let (_, _, films) = own(&laptop, None).await;
    assert_eq!(films, vec!["alien-1979"]);
    let listed = match desktop
        .call(ClientMessage::Watchlist {
            handle: Some("ana".into()),
            since: None,
        })
        .await
        .unwrap()
    {
        ServerMessage::Watchlist { films, .. } => films,
        other => panic!("{other:?}"),
    };
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].title.as_str(),
            listed[0].year,
            listed[0].added_at_ms
        ),
        ("Title of alien-1979", Some(1999), t + 5)
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watchlist_answers_unchanged_until_it_changes_and_is_newest_first() {
    let relay = relay(store::fresh()).await;
    let (c, _) = user(&relay, "ben").await;
    assert_eq!(own(&c, None).await, (0, false, vec![]));
    assert_eq!(own(&c, Some(0)).await, (0, true, vec![]));
    let t = movietalk_core::sync::now_ms() - 1_000;
    c.call(set("heat-1995", true, Some(t))).await.unwrap();
    c.call(set("ran-1985", true, Some(t + 1))).await.unwrap();
    let (v, unchanged, films) = own(&c, Some(0)).await;
    assert!(!unchanged && v > 0);
    assert_eq!(films, vec!["ran-1985", "heat-1995"], "newest first");
    assert_eq!(own(&c, Some(v)).await, (v, true, vec![]));
    // Changing nothing (an add of a listed film, a removal of an unlisted one) keeps the version.
    c.call(set("heat-1995", true, None)).await.unwrap();
    c.call(set("jaws-1975", false, None)).await.unwrap();
    c.call(ClientMessage::WatchlistPublic { public: false })
        .await
        .unwrap();
    assert_eq!(own(&c, Some(v)).await, (v, true, vec![]));
    // Going public is a change: another device learns of it.
    c.call(ClientMessage::WatchlistPublic { public: true })
        .await
        .unwrap();
    let (v2, unchanged, films) = own(&c, Some(v)).await;
    assert!(v2 > v && !unchanged && films.len() == 2);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let relay = relay(store::fresh()).await;
    let (c, _) = user(&relay, "cyd").await;
    c.call(set("heat-1995", true, None)).await.unwrap();
    let before = own(&c, None).await;
    for (key, title) in [
        ("", "Heat"),
        ("heat-1995", "   "),
        ("heat\n1995", "Heat"),
        (&"k".repeat(301), "Heat"),
        ("heat-1995", &"t".repeat(501)),
    ] {
        let bad = ClientMessage::SetWatchlist {
            movie_key: key.into(),
            title: title.into(),
            year: None,
            on: false,
            at_ms: None,
        };
        assert_eq!(code(c.call(bad).await), ErrorCode::InvalidInput, "{key:?}");
    }
    let unknown = ClientMessage::Watchlist {
        handle: Some("nobody-here".into()),
        since: None,
    };
    assert_eq!(code(c.call(unknown).await), ErrorCode::NotFound);
    assert_eq!(own(&c, None).await, before);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watchlist_holds_at_most_its_limit_and_forgets_old_removals() {
    let store = store::fresh();
    let relay = relay(store.clone()).await;
    let (c, id) = user(&relay, "dee").await;
    // Straight to the store: thousands of changes over the socket would only be slower.
    // Straight to the store: thousands of changes over the socket would only be slower.
    let t = movietalk_core::sync::now_ms() - 1_000_000;
    for i in 0..MAX_WATCHLIST as u64 {
        store
            .set_watchlist(id, &change(&format!("film-{i}"), true, t + i))
            .unwrap();
    }
    // Full: one more is refused over the socket with a clear reason; a removal makes room.
    let refused = c.call(set("one-too-many", true, None)).await;
    match refused {
        Err(ClientError::Rejected {
            code: ErrorCode::InvalidInput,
            message,
        }) => assert!(message.contains("5,000"), "{message}"),
        other => panic!("{other:?}"),
    }
    c.call(set("film-0", false, None)).await.unwrap();
    c.call(set("one-too-many", true, None)).await.unwrap();
    let (_, _, films) = own(&c, None).await;
    assert_eq!(films.len(), MAX_WATCHLIST);
    assert_eq!(films[0], "one-too-many");

    // Removals are remembered up to a bound: the oldest is forgotten, the others still win.
    // Taken off: film-0 (above, now), film-1 … film-4999 (oldest first), one-too-many (now).
    let base = t + 10_000;
    let removed: Vec<String> = (1..MAX_WATCHLIST).map(|i| format!("film-{i}")).collect();
    for (i, key) in removed.iter().enumerate() {
        store
            .set_watchlist(id, &change(key, false, base + 1 + i as u64))
            .unwrap_or_else(|e| panic!("removing {key}: {e}"));
    }
    c.call(set("one-too-many", false, None)).await.unwrap();
    assert!(removed.len() as u64 + 2 > KEPT_REMOVALS);
    assert_eq!(own(&c, None).await.2, Vec::<String>::new());
    // An add made before its removal: film-1's removal (the oldest) is forgotten, so it is
    // taken, as for a film never seen; film-2's is remembered, so it loses.
    for key in ["film-1", "film-2"] {
        store.set_watchlist(id, &change(key, true, base)).unwrap();
    }
    assert_eq!(own(&c, None).await.2, vec!["film-1"]);
    relay.shutdown().await.unwrap();
}
