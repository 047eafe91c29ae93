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

/// A diary entry logged at `at_ms`.
fn entry(
    client_id: &str,
    film: &str,
    on: &str,
    at_ms: u64,
) -> movietalk_protocol::relay::DiaryEntry {
    movietalk_protocol::relay::DiaryEntry {
        client_id: client_id.into(),
        movie_key: film.into(),
        title: format!("Title of {film}"),
        year: Some(1999),
        watched_on: on.into(),
        rating: Some(4.5),
        rewatch: false,
        review: false,
        edited_at_ms: at_ms,
    }
}

/// (version, unchanged, [(client id, film, day)]) of the caller's diary.
async fn diary(c: &RelayClient, since: Option<u64>) -> (u64, bool, Vec<(String, String, String)>) {
    match c.call(ClientMessage::Diary { since }).await.unwrap() {
        ServerMessage::Diary {
            version,
            unchanged,
            entries,
            ..
        } => (
            version,
            unchanged,
            entries
                .into_iter()
                .map(|e| (e.client_id, e.movie_key, e.watched_on))
                .collect(),
        ),
        other => panic!("{other:?}"),
    }
}

fn put(e: movietalk_protocol::relay::DiaryEntry) -> ClientMessage {
    ClientMessage::PutDiaryEntry { entry: e }
}

fn delete(client_id: &str, at_ms: Option<u64>) -> ClientMessage {
    ClientMessage::DeleteDiaryEntry {
        client_id: client_id.into(),
        at_ms,
    }
}

#[tokio::test]
async fn a_diary_keeps_the_later_of_two_edits_and_answers_unchanged_until_it_changes() {
    let relay = relay(store::fresh()).await;
    let (laptop, _) = user(&relay, "eve").await;
    let (desktop, _) = RelayClient::connect(&relay.url(), "eve").await.unwrap();
    desktop.log_in("eve", "a long password").await.unwrap();
    let t = movietalk_core::sync::now_ms() - 60_000;
    assert_eq!(diary(&laptop, None).await, (0, false, vec![]));

    // Two watches of one film and one of another, most recent watch first.
    laptop
        .call(put(entry("w1", "heat-1995", "2025-01-05", t)))
        .await
        .unwrap();
    laptop
        .call(put(entry("w2", "heat-1995", "2025-03-01", t + 1)))
        .await
        .unwrap();
    desktop
        .call(put(entry("w3", "ran-1985", "2025-02-10", t + 2)))
        .await
        .unwrap();
    let (v, _, entries) = diary(&desktop, None).await;
    let days: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(days, ["2025-03-01", "2025-02-10", "2025-01-05"]);
    assert_eq!(diary(&laptop, Some(v)).await, (v, true, vec![]));

    // w1: edited on the laptop at t+20; an older edit from the desktop (t+10) arrives later.
    laptop
        .call(put(entry("w1", "heat-1995", "2025-01-06", t + 20)))
        .await
        .unwrap();
    desktop
        .call(put(entry("w1", "heat-1995", "2025-01-07", t + 10)))
        .await
        .unwrap();
    // w2: deleted on the desktop at t+40; an older edit from the laptop (t+30) arrives later.
    desktop.call(delete("w2", Some(t + 40))).await.unwrap();
    laptop
        .call(put(entry("w2", "heat-1995", "2025-03-02", t + 30)))
        .await
        .unwrap();
    // w3: deleted at t+50, then edited later elsewhere (t+60): the later edit brings it back.
    desktop.call(delete("w3", Some(t + 50))).await.unwrap();
    laptop
        .call(put(entry("w3", "ran-1985", "2025-02-11", t + 60)))
        .await
        .unwrap();
    // w4: never seen here, deleted at t+80; its older log (t+70) arrives after.
    desktop.call(delete("w4", Some(t + 80))).await.unwrap();
    laptop
        .call(put(entry("w4", "alien-1979", "2025-04-01", t + 70)))
        .await
        .unwrap();
    let (v2, unchanged, entries) = diary(&laptop, Some(v)).await;
    assert!(v2 > v && !unchanged);
    let got: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.0.as_str(), e.2.as_str()))
        .collect();
    assert_eq!(got, [("w3", "2025-02-11"), ("w1", "2025-01-06")]);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_diary_refuses_bad_entries_and_belongs_to_its_account_alone() {
    let relay = relay(store::fresh()).await;
    let (owner, _) = user(&relay, "fay").await;
    let (other, _) = user(&relay, "gus").await;
    let t = movietalk_core::sync::now_ms();
    owner
        .call(put(entry("mine", "heat-1995", "2025-01-05", t)))
        .await
        .unwrap();
    let before = diary(&owner, None).await;
    let bad = [
        entry("", "heat-1995", "2025-01-05", t),
        entry("x", "", "2025-01-05", t),
        entry("x", "heat-1995", "2025-02-30", t),
        entry("x", "heat-1995", "yesterday", t),
        movietalk_protocol::relay::DiaryEntry {
            rating: Some(4.2),
            ..entry("x", "heat-1995", "2025-01-05", t)
        },
    ];
    for e in bad {
        assert_eq!(
            code(owner.call(put(e.clone())).await),
            ErrorCode::InvalidInput,
            "{e:?}"
        );
    }
    assert_eq!(
        code(owner.call(delete("", None)).await),
        ErrorCode::InvalidInput
    );
    // Another account using the same client id writes and deletes in its own diary only.
    other
        .call(put(entry("mine", "ran-1985", "2025-05-05", t)))
        .await
        .unwrap();
    assert_eq!(diary(&other, None).await.2.len(), 1);
    other.call(delete("mine", None)).await.unwrap();
    assert!(diary(&other, None).await.2.is_empty());
    assert_eq!(diary(&owner, None).await, before);
    // A guest has no diary.
    let (guest, _) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    assert_eq!(
        code(guest.call(ClientMessage::Diary { since: None }).await),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(
            guest
                .call(put(entry("g", "heat-1995", "2025-01-05", t)))
                .await
        ),
        ErrorCode::Unauthorized
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn reading_a_whole_diary_or_watchlist_is_limited_like_a_write() {
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        ..Config::default()
    };
    let relay = start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap();
    let (c, _) = user(&relay, "hal").await;
    let mut limited = 0;
    for i in 0..60 {
        let ask = if i % 2 == 0 {
            ClientMessage::Diary { since: None }
        } else {
            ClientMessage::Watchlist {
                handle: None,
                since: None,
            }
        };
        match c.call(ask).await {
            Ok(ServerMessage::Diary { .. } | ServerMessage::Watchlist { .. }) => {}
            Err(ClientError::Rejected {
                code: ErrorCode::RateLimited,
                ..
            }) => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(limited > 0, "sixty whole reads at once are limited");
    relay.shutdown().await.unwrap();
}
