//! Offline-first sync against a real relay started by each test (real WebSocket connections,
//! real SQLite files on both sides): the outbox delivers every write exactly once — across a
//! relay restart in the middle of a sync and across rate limiting — pulled reviews and comments
//! are readable offline, refused writes are kept as failed without blocking the queue, of two
//! offline edits of one review (or changes of a watchlist) the later one wins on every machine,
//! and the community model is read whole even when the relay rebuilds it mid-read.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use movietalk_core::relay_client::RelayClient;
use movietalk_core::sync::{Delivery, OutboxOp, SyncError, sync};
use movietalk_core::{Catalog, Movie};
use movietalk_protocol::relay::{ChangeKind, ClientMessage, LikeTarget, ServerMessage};
use movietalk_relay::accounts::HashCost;
use movietalk_relay::store::SqliteStore;
use movietalk_relay::{Config, RunningRelay, start};

fn config() -> Config {
    Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        writes_per_sec: 10_000.0,
        write_burst: 10_000.0,
        frames_per_sec: 10_000.0,
        frame_burst: 10_000.0,
        ..Config::default()
    }
}

async fn relay_at(addr: SocketAddr, db: &Path, config: Config) -> RunningRelay {
    start(addr, config, Arc::new(SqliteStore::open(db).unwrap()))
        .await
        .unwrap()
}

/// A relay on a free loopback port with its database in `dir`.
async fn relay_in(dir: &Path) -> RunningRelay {
    relay_at(
        "127.0.0.1:0".parse().unwrap(),
        &dir.join("relay.sqlite3"),
        config(),
    )
    .await
}

/// A data folder's catalog holding `n` films (keys `film-<i>-2000`'s normalised form).
fn catalog(dir: &Path, n: usize) -> Mutex<Catalog> {
    let mut c = Catalog::open(&dir.join("catalog.sqlite3")).unwrap();
    let movies: Vec<Movie> = (0..n)
        .map(|i| Movie::new(&format!("Film {i}"), Some(2000)))
        .collect();
    c.import(&movies, movietalk_core::catalog::Source::Starter)
        .unwrap();
    Mutex::new(c)
}

fn key(i: usize) -> String {
    movietalk_core::movie_key(&format!("Film {i}"), Some(2000))
}

async fn signed_up(relay: &RunningRelay, handle: &str) -> RelayClient {
    let (c, _) = RelayClient::connect(&relay.url(), handle).await.unwrap();
    c.sign_up(handle, "a long password", None).await.unwrap();
    c
}

async fn logged_in(url: &str, handle: &str) -> RelayClient {
    let (c, _) = RelayClient::connect(url, handle).await.unwrap();
    c.log_in(handle, "a long password").await.unwrap();
    c
}

/// The relay's whole change log, paged.
async fn all_changes(c: &RelayClient) -> Vec<ChangeKind> {
    let mut all = Vec::new();
    let mut since = 0;
    loop {
        match c
            .call(ClientMessage::ChangesSince { since, limit: 500 })
            .await
            .unwrap()
        {
            ServerMessage::Changes { changes, last, .. } if !changes.is_empty() => {
                all.extend(changes.into_iter().map(|c| c.what));
                since = last;
            }
            ServerMessage::Changes { .. } => return all,
            other => panic!("{other:?}"),
        }
    }
}

/// One account on two machines (data folders of `films` films each), both logged in and
/// synced as it, with a relay.
struct TwoMachines {
    _dir: tempfile::TempDir,
    relay: RunningRelay,
    laptop: Mutex<Catalog>,
    desktop: Mutex<Catalog>,
    /// The laptop's and the desktop's connections.
    cl: RelayClient,
    cd: RelayClient,
}

async fn two_machines(handle: &str, films: usize) -> TwoMachines {
    let dir = tempfile::tempdir().unwrap();
    let (laptop_dir, desktop_dir) = (dir.path().join("laptop"), dir.path().join("desktop"));
    std::fs::create_dir_all(&laptop_dir).unwrap();
    std::fs::create_dir_all(&desktop_dir).unwrap();
    let relay = relay_in(dir.path()).await;
    let (laptop, desktop) = (catalog(&laptop_dir, films), catalog(&desktop_dir, films));
    let cl = signed_up(&relay, handle).await;
    let cd = logged_in(&relay.url(), handle).await;
    for db in [&laptop, &desktop] {
        db.lock().unwrap().set_sync_account(handle).unwrap();
    }
    TwoMachines {
        _dir: dir,
        relay,
        laptop,
        desktop,
        cl,
        cd,
    }
}

fn pending(db: &Mutex<Catalog>) -> u64 {
    db.lock().unwrap().pending_writes().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_writes_reach_the_relay_exactly_once_across_a_restart_in_the_middle_of_a_sync() {
    const N: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let relay_db = dir.path().join("relay.sqlite3");
    let relay = relay_at("127.0.0.1:0".parse().unwrap(), &relay_db, config()).await;
    let addr = relay.local_addr();
    let db = Arc::new(catalog(dir.path(), N));
    // Offline: N ratings and reviews, then one of them edited twice more.
    for i in 0..N {
        db.lock()
            .unwrap()
            .save_review(&key(i), 3.5, &format!("review {i}"), i % 7 == 0)
            .unwrap();
    }
    db.lock()
        .unwrap()
        .save_review(&key(0), 4.0, "second thoughts", false)
        .unwrap();
    let last = db
        .lock()
        .unwrap()
        .save_review(&key(0), 4.5, "final word", false)
        .unwrap();
    assert_eq!(last.delivery, Delivery::Pending);
    assert_eq!(
        pending(&db),
        N as u64,
        "an edit of a write still waiting replaces it"
    );

    let client = signed_up(&relay, "minji").await;
    db.lock().unwrap().set_sync_account("minji").unwrap();
    let syncing = {
        let (db, client) = (db.clone(), client.clone());
        tokio::spawn(async move { sync(&db, &client, Some("minji"), &|_| {}).await })
    };
    // Stop the relay once part of the queue is through.
    let watcher = Catalog::open(&dir.path().join("catalog.sqlite3")).unwrap();
    while watcher
        .outbox()
        .unwrap()
        .iter()
        .filter(|o| o.state == Delivery::Sent)
        .count()
        < 20
    {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    relay.shutdown().await.unwrap();
    let interrupted = syncing.await.unwrap();
    assert!(
        matches!(interrupted, Err(SyncError::Relay(_))),
        "the sync was cut off mid-way: {interrupted:?}"
    );
    let left = pending(&db);
    assert!(
        left > 0 && left < N as u64,
        "part of the queue was delivered before the restart ({left} left)"
    );

    // The relay comes back on the same address with the same database; the app syncs again.
    let relay = relay_at(addr, &relay_db, config()).await;
    let client = logged_in(&relay.url(), "minji").await;
    let report = sync(&db, &client, Some("minji"), &|_| {}).await.unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(pending(&db), 0);

    // Exactly once: N reviews on the relay, each stored by a single change (a write whose
    // acknowledgement was lost was resent and recognised).
    let changes = all_changes(&client).await;
    let puts: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            ChangeKind::ReviewPut { review } => Some(review),
            _ => None,
        })
        .collect();
    assert_eq!(puts.len(), N, "every review was stored once");
    let mut keys: Vec<_> = puts.iter().map(|r| r.movie_key.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), N);
    let first = puts.iter().find(|r| r.movie_key == key(0)).unwrap();
    assert_eq!(
        (first.rating, first.body.as_str()),
        (4.5, "final word"),
        "only the latest edit travelled"
    );
    // The local copy knows the relay's ids and shows everything as sent.
    let mine = db.lock().unwrap().my_reviews().unwrap();
    assert_eq!(mine.len(), N);
    assert!(
        mine.iter()
            .all(|r| r.delivery == Delivery::Sent && r.remote_id.is_some())
    );
    assert_eq!(
        db.lock().unwrap().ratings().unwrap().len(),
        N,
        "the recommender sees the ratings"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_reviews_and_comments_are_pulled_and_readable_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let relay = relay_in(dir.path()).await;
    let (a, b) = (catalog(&a_dir, 5), catalog(&b_dir, 5));
    let (ca, cb) = (
        signed_up(&relay, "ari").await,
        signed_up(&relay, "bora").await,
    );
    a.lock().unwrap().set_sync_account("ari").unwrap();
    b.lock().unwrap().set_sync_account("bora").unwrap();

    // Bora reviews film 1 offline, then comes online.
    b.lock()
        .unwrap()
        .save_review(&key(1), 5.0, "A masterpiece.", true)
        .unwrap();
    let report = sync(&b, &cb, Some("bora"), &|_| {}).await.unwrap();
    assert_eq!(report.sent, 1);

    // Ari pulls it, then reads it with no relay at all.
    let report = sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    assert_eq!(report.pulled, 1);
    let reviews = a.lock().unwrap().reviews_of(&key(1)).unwrap();
    assert_eq!(reviews.len(), 1);
    let review = &reviews[0].review;
    assert_eq!(
        (review.author.as_str(), review.body.as_str(), review.spoiler),
        ("bora", "A masterpiece.", true)
    );
    assert!(
        a.lock().unwrap().my_review(&key(1)).unwrap().is_none(),
        "bora's review is not ari's"
    );

    // Ari comments and likes offline: the comment shows as pending until sent.
    let client_id = a
        .lock()
        .unwrap()
        .post_comment(review.id, "Agreed, the ending!")
        .unwrap();
    a.lock()
        .unwrap()
        .like(LikeTarget::Review(review.id), true)
        .unwrap();
    let comments = a.lock().unwrap().comments_of(review.id).unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(
        (
            comments[0].delivery,
            comments[0].id,
            comments[0].client_id.as_deref()
        ),
        (Delivery::Pending, None, Some(client_id.as_str()))
    );
    assert!(a.lock().unwrap().reviews_of(&key(1)).unwrap()[0].liked);
    let report = sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    assert_eq!(report.sent, 2);
    let comments = a.lock().unwrap().comments_of(review.id).unwrap();
    assert_eq!(
        comments.len(),
        1,
        "the sent comment replaced its pending copy"
    );
    assert_eq!(comments[0].delivery, Delivery::Sent);
    let comment_id = comments[0].id.unwrap();

    // Bora sees the comment and the like; as the review's author, bora may delete the comment.
    sync(&b, &cb, Some("bora"), &|_| {}).await.unwrap();
    let seen = b.lock().unwrap().comments_of(review.id).unwrap();
    assert_eq!(
        (seen.len(), seen[0].author.as_str(), seen[0].body.as_str()),
        (1, "ari", "Agreed, the ending!")
    );
    b.lock().unwrap().delete_comment(comment_id).unwrap();
    assert_eq!(sync(&b, &cb, Some("bora"), &|_| {}).await.unwrap().sent, 1);
    sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    assert!(
        a.lock().unwrap().comments_of(review.id).unwrap().is_empty(),
        "the deletion reached ari"
    );
    assert_eq!(
        a.lock()
            .unwrap()
            .cached_review(review.id)
            .unwrap()
            .unwrap()
            .review
            .comments,
        0
    );

    // Bora deletes the review on the relay; ari's cache follows.
    assert!(b.lock().unwrap().delete_my_review(&key(1)).unwrap());
    sync(&b, &cb, Some("bora"), &|_| {}).await.unwrap();
    sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    assert!(a.lock().unwrap().reviews_of(&key(1)).unwrap().is_empty());
    assert!(b.lock().unwrap().reviews_of(&key(1)).unwrap().is_empty());
    assert!(
        b.lock().unwrap().ratings().unwrap().is_empty(),
        "deleting the review removed the rating"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_offline_edits_on_two_machines_the_later_one_wins_on_both() {
    let TwoMachines {
        _dir,
        relay,
        laptop,
        desktop,
        cl,
        cd,
    } = two_machines("minji", 3).await;
    // Both offline: the laptop edits first, the desktop later.
    laptop
        .lock()
        .unwrap()
        .save_review(&key(2), 2.0, "laptop: meh", false)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    desktop
        .lock()
        .unwrap()
        .save_review(&key(2), 4.5, "desktop: grew on me", false)
        .unwrap();
    // The desktop comes online first, the laptop last: arrival order must not decide.
    assert_eq!(
        sync(&desktop, &cd, Some("minji"), &|_| {})
            .await
            .unwrap()
            .sent,
        1
    );
    let report = sync(&laptop, &cl, Some("minji"), &|_| {}).await.unwrap();
    assert_eq!(
        report.superseded, 1,
        "the laptop's older edit lost: {report:?}"
    );
    sync(&desktop, &cd, Some("minji"), &|_| {}).await.unwrap();
    for db in [&laptop, &desktop] {
        let mine = db.lock().unwrap().my_review(&key(2)).unwrap().unwrap();
        assert_eq!(
            (mine.rating, mine.body.as_str()),
            (4.5, "desktop: grew on me")
        );
        assert_eq!(db.lock().unwrap().ratings().unwrap()[0].1, 4.5);
    }
    let lost = laptop.lock().unwrap().outbox().unwrap();
    assert_eq!(lost.last().unwrap().state, Delivery::Superseded);
    // A newer edit on the laptop then wins everywhere.
    laptop
        .lock()
        .unwrap()
        .save_review(&key(2), 3.0, "laptop: third viewing", false)
        .unwrap();
    sync(&laptop, &cl, Some("minji"), &|_| {}).await.unwrap();
    sync(&desktop, &cd, Some("minji"), &|_| {}).await.unwrap();
    assert_eq!(
        desktop
            .lock()
            .unwrap()
            .my_review(&key(2))
            .unwrap()
            .unwrap()
            .body,
        "laptop: third viewing"
    );
    relay.shutdown().await.unwrap();
}

/// The film keys on a data folder's watchlist, newest addition first.
fn watchlist(db: &Mutex<Catalog>) -> Vec<String> {
    let films = db.lock().unwrap().watchlist().unwrap();
    films.into_iter().map(|f| f.movie_key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watchlist_follows_its_owner_across_machines_and_the_later_change_wins() {
    let TwoMachines {
        _dir,
        relay,
        laptop,
        desktop,
        cl,
        cd,
    } = two_machines("hana", 4).await;
    // The laptop, offline: films 0 and 1 on, and the watchlist made public.
    {
        let mut l = laptop.lock().unwrap();
        assert!(l.set_watchlist(&key(0), true).unwrap());
        assert!(l.set_watchlist(&key(1), true).unwrap());
        assert!(!l.set_watchlist(&key(1), true).unwrap(), "already on it");
        l.set_watchlist_public(true).unwrap();
    }
    // A film the catalog lacks cannot be put on.
    assert!(
        laptop
            .lock()
            .unwrap()
            .set_watchlist("no-such-film-1999", true)
            .is_err()
    );
    assert_eq!(watchlist(&laptop), vec![key(1), key(0)]);
    let report = sync(&laptop, &cl, Some("hana"), &|_| {}).await.unwrap();
    assert_eq!(report.sent, 3);
    // The desktop takes it in.
    let report = sync(&desktop, &cd, Some("hana"), &|_| {}).await.unwrap();
    assert!(report.watchlist);
    assert_eq!(watchlist(&desktop), vec![key(1), key(0)]);
    assert!(desktop.lock().unwrap().watchlist_public().unwrap());
    assert!(
        !sync(&desktop, &cd, Some("hana"), &|_| {})
            .await
            .unwrap()
            .watchlist
    );

    // Both offline: the desktop takes film 0 off and puts film 2 on; later, the laptop puts
    // film 0 back on (film 0: the laptop's change is the later one).
    {
        let mut d = desktop.lock().unwrap();
        d.set_watchlist(&key(0), false).unwrap();
        d.set_watchlist(&key(2), true).unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    {
        let mut l = laptop.lock().unwrap();
        l.set_watchlist(&key(0), false).unwrap();
        l.set_watchlist(&key(3), true).unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    laptop.lock().unwrap().set_watchlist(&key(0), true).unwrap();
    // The laptop comes online first; its waiting changes are not undone by its own pull.
    sync(&laptop, &cl, Some("hana"), &|_| {}).await.unwrap();
    sync(&desktop, &cd, Some("hana"), &|_| {}).await.unwrap();
    sync(&laptop, &cl, Some("hana"), &|_| {}).await.unwrap();
    for db in [&laptop, &desktop] {
        let mut keys = watchlist(db);
        keys.sort();
        assert_eq!(keys, vec![key(0), key(1), key(2), key(3)]);
    }

    // Another account logging in on the laptop: its (empty) watchlist replaces hana's, but a
    // change still waiting here stays and goes out as the new account's.
    let cj = signed_up(&relay, "jun").await;
    laptop
        .lock()
        .unwrap()
        .set_watchlist(&key(1), false)
        .unwrap();
    laptop.lock().unwrap().set_sync_account("jun").unwrap();
    laptop
        .lock()
        .unwrap()
        .set_watchlist(&key(2), false)
        .unwrap();
    laptop.lock().unwrap().set_watchlist(&key(2), true).unwrap();
    sync(&laptop, &cj, Some("jun"), &|_| {}).await.unwrap();
    assert_eq!(watchlist(&laptop), vec![key(2)]);
    assert!(!laptop.lock().unwrap().watchlist_public().unwrap());
    let juns = match cj
        .call(ClientMessage::Watchlist {
            handle: None,
            since: None,
        })
        .await
        .unwrap()
    {
        ServerMessage::Watchlist { films, .. } => films,
        other => panic!("{other:?}"),
    };
    assert_eq!(juns.len(), 1);
    assert_eq!(juns[0].movie_key, key(2));
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diary_follows_its_owner_across_machines() {
    use movietalk_core::diary::NewWatch;
    let TwoMachines {
        _dir,
        relay,
        laptop,
        desktop,
        cl,
        cd,
    } = two_machines("ines", 3).await;
    let days = |db: &Mutex<Catalog>| -> Vec<(String, String)> {
        let entries = db.lock().unwrap().diary().unwrap();
        entries
            .into_iter()
            .map(|e| (e.movie_key, e.watched_on))
            .collect()
    };
    // The laptop, offline: two watches, the second with a rating.
    let first = {
        let mut l = laptop.lock().unwrap();
        let first = l
            .log_watch(&NewWatch {
                movie_key: key(0),
                watched_on: "2025-01-02".into(),
                ..NewWatch::default()
            })
            .unwrap();
        l.log_watch(&NewWatch {
            movie_key: key(1),
            watched_on: "2025-02-03".into(),
            rating: Some(4.0),
            ..NewWatch::default()
        })
        .unwrap();
        first
    };
    // Two diary entries and the rating's review.
    assert_eq!(
        sync(&laptop, &cl, Some("ines"), &|_| {})
            .await
            .unwrap()
            .sent,
        3
    );
    let report = sync(&desktop, &cd, Some("ines"), &|_| {}).await.unwrap();
    assert!(report.diary);
    assert_eq!(days(&desktop), days(&laptop));
    assert_eq!(
        desktop
            .lock()
            .unwrap()
            .my_review(&key(1))
            .unwrap()
            .unwrap()
            .rating,
        4.0
    );
    // The desktop deletes the first watch and logs a third; the laptop learns both.
    assert!(
        desktop
            .lock()
            .unwrap()
            .delete_watch(&first.client_id)
            .unwrap()
    );
    desktop
        .lock()
        .unwrap()
        .log_watch(&NewWatch {
            movie_key: key(2),
            watched_on: "2025-03-04".into(),
            rewatch: true,
            ..NewWatch::default()
        })
        .unwrap();
    sync(&desktop, &cd, Some("ines"), &|_| {}).await.unwrap();
    sync(&laptop, &cl, Some("ines"), &|_| {}).await.unwrap();
    assert_eq!(
        days(&laptop),
        [
            (key(2), "2025-03-04".to_owned()),
            (key(1), "2025-02-03".to_owned())
        ]
    );
    assert!(laptop.lock().unwrap().diary().unwrap()[0].rewatch);
    assert!(
        !sync(&laptop, &cl, Some("ines"), &|_| {})
            .await
            .unwrap()
            .diary
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_are_kept_as_failed_and_do_not_hold_up_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in(dir.path()).await;
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let (a, b) = (catalog(&a_dir, 2), catalog(&b_dir, 2));
    let (ca, cb) = (
        signed_up(&relay, "ari").await,
        signed_up(&relay, "bora").await,
    );
    b.lock()
        .unwrap()
        .save_review(&key(0), 4.0, "", false)
        .unwrap();
    sync(&b, &cb, Some("bora"), &|_| {}).await.unwrap();
    let review_id = b.lock().unwrap().reviews_of(&key(0)).unwrap()[0].review.id;
    b.lock()
        .unwrap()
        .post_comment(review_id, "my own note")
        .unwrap();
    sync(&b, &cb, Some("bora"), &|_| {}).await.unwrap();
    sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    let bora_comment = a.lock().unwrap().comments_of(review_id).unwrap()[0]
        .id
        .unwrap();

    // Ari queues: a comment on a review that does not exist, an edit of bora's comment, then a
    // good review.
    a.lock()
        .unwrap()
        .post_comment(999_999, "into the void")
        .unwrap();
    a.lock()
        .unwrap()
        .edit_comment(bora_comment, "ari was here")
        .unwrap();
    a.lock()
        .unwrap()
        .save_review(&key(1), 3.0, "fine", false)
        .unwrap();
    let report = sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    assert_eq!((report.failed, report.sent), (2, 1), "{report:?}");
    let outbox = a.lock().unwrap().outbox().unwrap();
    let failed: Vec<_> = outbox
        .iter()
        .filter(|o| o.state == Delivery::Failed)
        .collect();
    assert!(matches!(
        failed[0].op,
        OutboxOp::PostComment {
            review_id: 999_999,
            ..
        }
    ));
    assert!(
        failed
            .iter()
            .all(|o| o.error.as_deref().is_some_and(|e| !e.is_empty()))
    );
    // Bora's comment is untouched on the relay; ari's next pull restores it locally.
    let on_relay = all_changes(&cb)
        .await
        .into_iter()
        .filter(|c| matches!(c, ChangeKind::CommentPut { .. }))
        .count();
    assert_eq!(
        on_relay, 1,
        "no edit of someone else's comment reached the relay"
    );
    assert_eq!(
        a.lock().unwrap().pending_writes().unwrap(),
        0,
        "failed writes are not retried forever"
    );
    // The refused edit was shown here at once; the next sync puts the relay's text back.
    sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    let restored = a.lock().unwrap().comments_of(review_id).unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(
        restored[0].body, "my own note",
        "the refused edit is undone locally"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_sync_leaves_the_rest_pending_and_a_later_sync_finishes_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let limited = Config {
        writes_per_sec: 50.0,
        write_burst: 4.0,
        ..config()
    };
    let relay = relay_at(
        "127.0.0.1:0".parse().unwrap(),
        &dir.path().join("relay.sqlite3"),
        limited,
    )
    .await;
    let db = catalog(dir.path(), 12);
    for i in 0..12 {
        db.lock()
            .unwrap()
            .save_review(&key(i), 2.5, "", false)
            .unwrap();
    }
    let client = signed_up(&relay, "minji").await;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match sync(&db, &client, Some("minji"), &|_| {}).await {
            Ok(_) => break,
            Err(SyncError::Relay(e)) => {
                assert!(
                    e.to_string().contains("rate") || e.to_string().contains("Rate"),
                    "{e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
        assert!(attempts < 100);
    }
    assert!(
        attempts > 1,
        "the burst of 4 could not take 12 writes at once"
    );
    let puts = all_changes(&client)
        .await
        .into_iter()
        .filter(|c| matches!(c, ChangeKind::ReviewPut { .. }))
        .count();
    assert_eq!(puts, 12);
    assert_eq!(pending(&db), 0);
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_pulls_but_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in(dir.path()).await;
    let db = catalog(dir.path(), 2);
    db.lock()
        .unwrap()
        .save_review(&key(0), 1.0, "waiting for an account", false)
        .unwrap();
    let (guest, _) = RelayClient::connect(&relay.url(), "someone").await.unwrap();
    let report = sync(&db, &guest, None, &|_| {}).await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(pending(&db), 1);
    // Logged in later, the same queue goes out.
    guest
        .sign_up("someone", "a long password", None)
        .await
        .unwrap();
    assert_eq!(
        sync(&db, &guest, Some("someone"), &|_| {})
            .await
            .unwrap()
            .sent,
        1
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_and_others_profiles_read_offline_from_what_was_last_pulled() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_in(dir.path()).await;
    let a = catalog(dir.path(), 30);
    let ca = signed_up(&relay, "ari").await;
    let cb = signed_up(&relay, "bora").await;
    let cc = signed_up(&relay, "chan").await;
    cb.update_profile(
        Some("Bora K."),
        Some("Noir, mostly."),
        Some("https://img.example/b.png"),
    )
    .await
    .unwrap();
    a.lock().unwrap().set_sync_account("ari").unwrap();
    ca.follow("bora", true).await.unwrap();

    // Bora writes 25 reviews, Chan (not followed) one; Ari pulls them all.
    for i in 0..25 {
        put(&cb, i, &format!("Bora on film {i}")).await;
    }
    put(&cc, 0, "Chan on film 0").await;
    sync(&a, &ca, Some("ari"), &|_| {}).await.unwrap();
    let (_, following) = ca.follows("ari").await.unwrap();
    assert_eq!(following, ["bora"]);
    let bora = ca.profile("bora").await.unwrap();
    assert_eq!(
        (
            bora.display_name.as_str(),
            bora.bio.as_str(),
            bora.avatar_url.as_deref()
        ),
        (
            "Bora K.",
            "Noir, mostly.",
            Some("https://img.example/b.png")
        )
    );
    {
        let c = a.lock().unwrap();
        c.remember_following("ari", &following).unwrap();
        c.remember_profile(&bora).unwrap();
    }
    let missing = ca.profile("nobody-here").await.unwrap_err();
    assert!(
        matches!(&missing, movietalk_core::relay_client::ClientError::Rejected { code, .. } if *code == movietalk_protocol::relay::ErrorCode::NotFound),
        "{missing:?}"
    );
    // Asked through the catalog: the profile is remembered, and so is the absence of one.
    let fetched = movietalk_core::people::fetch_profile(&a, &ca, "bora")
        .await
        .unwrap();
    assert_eq!(fetched.as_ref(), Some(&bora));
    assert_eq!(
        movietalk_core::people::fetch_profile(&a, &ca, "nobody-here")
            .await
            .unwrap(),
        None
    );
    assert!(a.lock().unwrap().authors_known("nobody-here").unwrap());
    drop((ca, cb, cc));
    relay.shutdown().await.unwrap();

    // Offline: the feed pages through Bora's reviews, newest first, never Chan's.
    let c = a.lock().unwrap();
    assert_eq!(c.cached_profile("bora").unwrap(), Some(bora));
    assert_eq!(c.cached_profile("chan").unwrap(), None);
    // Chan's profile was never asked for; once the relay says there is none, it is not asked again.
    assert_eq!(c.authors_without_profile(10).unwrap(), ["chan"]);
    c.remember_no_profile("chan").unwrap();
    assert!(c.authors_without_profile(10).unwrap().is_empty());
    assert_eq!(c.cached_profile("chan").unwrap(), None);
    let following = c.cached_following("ari").unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = c.feed(&following, cursor, 10).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        let last = &page.last().unwrap().review;
        cursor = Some(movietalk_core::people::FeedCursor {
            updated_at_ms: last.updated_at_ms,
            id: last.id,
        });
        seen.extend(page.into_iter().map(|r| r.review));
    }
    assert_eq!(seen.len(), 25, "every review by bora, once");
    assert!(seen.iter().all(|r| r.author == "bora"));
    assert!(
        seen.windows(2)
            .all(|w| (w[0].updated_at_ms, w[0].id) > (w[1].updated_at_ms, w[1].id)),
        "newest first"
    );
    assert_eq!(seen[0].body, "Bora on film 24");
    assert!(
        c.feed(&[], None, 10).unwrap().is_empty(),
        "following nobody"
    );
}

/// A review of film `i` written straight to the relay.
async fn put(c: &RelayClient, i: usize, body: &str) {
    c.call(ClientMessage::PutReview {
        client_id: format!("put-{i}-{body}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
        movie_key: key(i),
        title: format!("Film {i}"),
        year: Some(2000),
        rating: 4.0,
        body: body.to_owned(),
        spoiler: false,
        edited_at_ms: None,
    })
    .await
    .unwrap();
}

/// Everyone who rated film 0 also rated films 1 and 2 (`users` people).
fn community(users: usize) -> Vec<(String, String, f32)> {
    (0..users)
        .flat_map(|u| (0..3).map(move |f| (format!("u{u}"), key(f), 4.0)))
        .collect()
}

// Two workers: the progress callback below blocks one while the relay rebuilds on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_is_read_whole_and_started_again_when_the_relay_rebuilds_it_meanwhile() {
    use movietalk_core::sync::SyncProgress;
    use movietalk_relay::community::CommunityStore;
    use movietalk_relay::community::serve::ModelConfig;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.sqlite3");
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    store.import_ratings(&community(5), 1_000).unwrap();
    let relay = start(
        "127.0.0.1:0".parse().unwrap(),
        Config {
            model: ModelConfig {
                check: std::time::Duration::from_millis(20),
                after_changes: 1,
                films_per_page: 1,
                ..ModelConfig::default()
            },
            ..config()
        },
        store.clone(),
    )
    .await
    .unwrap();
    let (client, _events) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    let local = catalog(dir.path(), 3);
    // Wait for the first model.
    for _ in 0..200 {
        let ask = ClientMessage::CommunityModel {
            since: None,
            page: 0,
        };
        if let Ok(ServerMessage::CommunityModel { version: 1.., .. }) = client.call(ask).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // After the first page, more people rate the films: the relay builds version 2 while the
    // client is between pages, and the client reads version 2 from its start.
    let seen = Mutex::new(Vec::new());
    let report = sync(&local, &client, None, &|p| {
        if let SyncProgress::Model { page, pages } = p {
            seen.lock().unwrap().push((page, pages));
            if seen.lock().unwrap().len() == 1 {
                store.import_ratings(&community(9), 2_000).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(report.model, Some(2));
    assert_eq!(report.model_films, 3);
    assert_eq!(*seen.lock().unwrap(), [(1, 3), (1, 3), (2, 3), (3, 3)]);
    // What is kept is version 2: nine raters a film.
    let again = sync(&local, &client, None, &|_| {}).await.unwrap();
    assert_eq!(again.model, None, "version 2 is the newest: unchanged");
    let rec = local.lock().unwrap().recommender().unwrap();
    let stats: Vec<u32> = rec.community.stats.values().map(|s| s.0).collect();
    assert_eq!(stats, [9, 9, 9]);
    relay.shutdown().await.unwrap();
}
