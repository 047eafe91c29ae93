//! The hub's tests: presence, numbering, history and live delivery, fan-out, failures.

use super::*;
use crate::outlet::text_frame;
use crate::store::author_key;
use crate::store::{AppendError, ChatAppender, ClientKey};
use tokio_tungstenite::tungstenite::Bytes;
use tokio_util::sync::CancellationToken;

fn hub() -> Hub {
    Hub::new(
        Arc::new(crate::store::SqliteStore::in_memory().unwrap()),
        Arc::default(),
    )
    .unwrap()
}

/// A mailbox without a socket: every delivery lands in the returned queue.
fn mailbox(cap: usize) -> (Mailbox, mpsc::Receiver<Bytes>, CancellationToken) {
    let (m, rx) = Mailbox::new(None, cap, CancellationToken::new());
    let ends = m.ends().clone();
    (m, rx, ends)
}

/// The JSON text of a frame made by [`text_frame`].
fn text(frame: &[u8]) -> &str {
    let at = match frame[1] {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    std::str::from_utf8(&frame[at..]).unwrap()
}

/// The sequence numbers of the chat messages queued in `rx`, in the order queued.
fn delivered(rx: &mut mpsc::Receiver<Bytes>) -> Vec<u64> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|frame| match serde_json::from_str(text(&frame)) {
            Ok(ServerMessage::Message(m)) => Some(m.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn text_frames_are_what_tungstenite_reads() {
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    for len in [0, 5, 125, 126, 127, 65_535, 65_536, 200_000] {
        let body = "가".repeat(len / 3) + &"x".repeat(len % 3);
        let frame = text_frame(&body);
        assert_eq!(text(&frame), body);
        let mut ws =
            WebSocket::from_raw_socket(std::io::Cursor::new(frame.to_vec()), Role::Client, None);
        match ws.read().unwrap() {
            tokio_tungstenite::tungstenite::Message::Text(t) => {
                assert_eq!(t.as_str(), body, "{len} bytes")
            }
            other => panic!("{len} bytes: a text frame, got {other:?}"),
        }
    }
}

#[test]
fn presence_counts_people_not_connections() {
    let hub = hub();
    let (a1, _r1, _) = mailbox(8);
    let (a2, _r2, _) = mailbox(8);
    let (b, _r3, _) = mailbox(8);
    assert_eq!(
        hub.join("room", 1, "alice", a1, None, 10).unwrap().present,
        1
    );
    assert_eq!(
        hub.join("room", 2, "alice", a2, None, 10).unwrap().present,
        1,
        "a second window of alice is still one person"
    );
    assert_eq!(hub.join("room", 3, "bob", b, None, 10).unwrap().present, 2);
    assert!(hub.leave("room", 1));
    assert!(!hub.leave("room", 1), "leaving twice is refused");
}

#[test]
fn logging_in_moves_a_membership_to_the_account() {
    let hub = hub();
    let (a, _ra, _) = mailbox(8);
    let (b, _rb, _) = mailbox(8);
    assert_eq!(hub.join("r", 1, "g:minji", a, None, 10).unwrap().present, 1);
    assert_eq!(
        hub.join("r", 2, "a:minji", b, None, 10).unwrap().present,
        2,
        "a guest and an account are two people"
    );
    hub.rename_member("r", 1, "a:minji");
    assert_eq!(
        hub.present("r"),
        1,
        "after logging in, both windows are the same person"
    );
    hub.rename_member("nowhere", 1, "a:x");
    assert_eq!(hub.present("r"), 1);
}

#[tokio::test]
async fn sequence_numbers_are_gapless_and_resends_are_stored_once() {
    let hub = hub();
    let (m, mut rx, _) = mailbox(8);
    hub.join("r", 1, "alice", m, None, 10).unwrap();
    assert_eq!(
        hub.post(
            "r",
            ("alice", false, &author_key("alice", false)),
            "c1",
            "one"
        )
        .await
        .unwrap(),
        Posted::New(1)
    );
    assert_eq!(
        hub.post(
            "r",
            ("alice", false, &author_key("alice", false)),
            "c2",
            "two"
        )
        .await
        .unwrap(),
        Posted::New(2)
    );
    assert_eq!(
        hub.post(
            "r",
            ("alice", false, &author_key("alice", false)),
            "c1",
            "one"
        )
        .await
        .unwrap(),
        Posted::Duplicate(1)
    );
    assert_eq!(
        hub.post(
            "r",
            ("bob", false, &author_key("bob", false)),
            "c1",
            "bob's own c1"
        )
        .await
        .unwrap(),
        Posted::New(3),
        "ids are per author"
    );
    assert_eq!(
        hub.post(
            "r",
            ("alice", true, &author_key("alice", true)),
            "c1",
            "a guest called alice"
        )
        .await
        .unwrap(),
        Posted::New(4),
        "a guest is not the account"
    );
    assert_eq!(delivered(&mut rx), vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn history_resumes_after_since_pages_back_and_is_bounded() {
    let hub = hub();
    for i in 1..=5 {
        hub.post(
            "r",
            ("a", false, &author_key("a", false)),
            &format!("c{i}"),
            "x",
        )
        .await
        .unwrap();
    }
    let seqs = |v: Vec<ChatMessage>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
    let (m, _rx, _) = mailbox(8);
    assert_eq!(
        seqs(hub.join("r", 1, "a", m, Some(3), 10).unwrap().history),
        vec![4, 5]
    );
    let (m, _rx, _) = mailbox(8);
    assert_eq!(
        seqs(hub.join("r", 2, "a", m, Some(1), 2).unwrap().history),
        vec![2, 3],
        "resume pages forward, no gap"
    );
    let (m, _rx, _) = mailbox(8);
    assert_eq!(
        seqs(hub.join("r", 3, "a", m, None, 2).unwrap().history),
        vec![4, 5],
        "a fresh join gets the latest"
    );
    assert_eq!(
        seqs(hub.history("r", None, 4, 2).unwrap()),
        vec![2, 3],
        "scrollback before seq 4"
    );
}

#[tokio::test]
async fn a_full_mailbox_signals_overflow() {
    let hub = hub();
    let (m, _rx, ends) = mailbox(1);
    hub.join("r", 1, "slow", m.clone(), None, 10).unwrap();
    hub.post(
        "r",
        ("x", true, &author_key("x", true)),
        "c1",
        "fills the queue",
    )
    .await
    .unwrap();
    hub.post(
        "r",
        ("x", true, &author_key("x", true)),
        "c2",
        "overflows it",
    )
    .await
    .unwrap();
    assert!(ends.is_cancelled() && m.overflowed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_are_numbered_gaplessly_per_room_and_fanned_out_in_order() {
    let hub = Arc::new(hub());
    let mut inboxes = Vec::new();
    for room in 0..4 {
        let (m, rx, _) = mailbox(1024);
        hub.join(&format!("r{room}"), room, "listener", m, None, 10)
            .unwrap();
        inboxes.push(rx);
    }
    // 40 posters at once, each sending 10 messages and resending each one right away.
    let tasks: Vec<_> = (0..40)
        .map(|p| {
            let hub = hub.clone();
            tokio::spawn(async move {
                let room = format!("r{}", p % 4);
                let mut seqs = Vec::new();
                for i in 0..10 {
                    let id = format!("c{i}");
                    let author = format!("p{p}");
                    let key = author_key(&author, true);
                    let (a, b) = tokio::join!(
                        hub.post(&room, (&author, true, &key), &id, "x"),
                        hub.post(&room, (&author, true, &key), &id, "x")
                    );
                    let (a, b) = (a.unwrap(), b.unwrap());
                    let seq = match (a, b) {
                        (Posted::New(s), Posted::Duplicate(d))
                        | (Posted::Duplicate(d), Posted::New(s)) => {
                            assert_eq!(s, d, "a resend is acknowledged with the same sequence");
                            s
                        }
                        other => panic!("one new and one duplicate, got {other:?}"),
                    };
                    seqs.push(seq);
                }
                (room, seqs)
            })
        })
        .collect();
    let mut by_room: HashMap<String, Vec<u64>> = HashMap::new();
    for t in tasks {
        let (room, seqs) = t.await.unwrap();
        by_room.entry(room).or_default().extend(seqs);
    }
    for (room, mut seqs) in by_room {
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=100).collect::<Vec<_>>(),
            "{room}: gapless, none twice"
        );
    }
    for (room, rx) in inboxes.iter_mut().enumerate() {
        assert_eq!(
            delivered(rx),
            (1..=100).collect::<Vec<_>>(),
            "r{room} fanned out in order, once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_room_split_between_two_fan_out_threads_gets_every_message_in_order() {
    let hub = Arc::new(hub());
    // 150 members: each commit's fan-out is split between the writer and the fan-out thread.
    let inboxes: Vec<_> = (0..150)
        .map(|i| {
            let (m, rx, _) = mailbox(512);
            hub.join("big", i, &format!("m{i}"), m, None, 10).unwrap();
            rx
        })
        .collect();
    let posters: Vec<_> = (0..20)
        .map(|p| {
            let hub = hub.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    hub.post(
                        "big",
                        (&format!("p{p}"), true, &format!("g:p{p}")),
                        &format!("c{i}"),
                        "x",
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for p in posters {
        p.await.unwrap();
    }
    // Every post was acknowledged, so every member already has every message.
    for (i, mut rx) in inboxes.into_iter().enumerate() {
        assert_eq!(
            delivered(&mut rx),
            (1..=200).collect::<Vec<_>>(),
            "member {i}: all, in order, once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_gets_every_message_once_between_history_and_live() {
    let hub = Arc::new(hub());
    for i in 0..20 {
        hub.post(
            "r",
            ("a", true, &author_key("a", true)),
            &format!("before{i}"),
            "x",
        )
        .await
        .unwrap();
    }
    let poster = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                hub.post(
                    "r",
                    ("a", true, &author_key("a", true)),
                    &format!("during{i}"),
                    "x",
                )
                .await
                .unwrap();
            }
        })
    };
    // Join (with and without a resume point) while messages are being posted.
    let mut joiners = Vec::new();
    for conn in 1..=30u64 {
        let (m, rx, _) = mailbox(1024);
        let since = (conn % 2 == 0).then_some(5);
        let history = hub.join("r", conn, "b", m, since, 1000).unwrap().history;
        joiners.push((since, history, rx));
        tokio::task::yield_now().await;
    }
    poster.await.unwrap();
    for (since, history, mut rx) in joiners {
        let mut seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
        seqs.extend(delivered(&mut rx));
        let first = since.map_or(1, |s| s + 1);
        assert_eq!(
            seqs,
            (first..=320).collect::<Vec<_>>(),
            "no gap, no duplicate"
        );
    }
}

/// An appender whose commits fail while `failing` is set.
struct Flaky {
    stored: Vec<(ChatMessage, String)>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl ChatAppender for Flaky {
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError> {
        Ok(self
            .stored
            .iter()
            .filter(|(m, _)| m.room == room)
            .map(|(m, _)| m.seq)
            .max()
            .unwrap_or(0))
    }
    fn find_client_id(&mut self, key: ClientKey<'_>) -> Result<Option<u64>, StoreError> {
        let (room, key, id) = key;
        Ok(self
            .stored
            .iter()
            .find(|(m, k)| m.room == room && k == key && m.client_id == id)
            .map(|(m, _)| m.seq))
    }
    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError("disk full".into()).into());
        }
        self.stored.extend(group.iter().cloned());
        Ok(())
    }
}

fn request(room: &str, id: &str) -> (PostRequest, oneshot::Receiver<Result<Posted, StoreError>>) {
    let (reply, rx) = oneshot::channel();
    let req = PostRequest {
        room: room.into(),
        author: "a".into(),
        guest: false,
        key: "a:a".into(),
        client_id: id.into(),
        text: "x".into(),
        reply,
    };
    (req, rx)
}

#[test]
fn a_failed_group_acknowledges_and_fans_out_nothing_and_leaves_no_gap() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rooms = Rooms::default();
    let (m, mut inbox, _) = mailbox(16);
    lock(&rooms).entry("r".into()).or_default().members.insert(
        1,
        Member {
            name: "l".into(),
            mailbox: m,
        },
    );
    let mut w = Writer {
        appender: Box::new(Flaky {
            stored: Vec::new(),
            failing: failing.clone(),
        }),
        store: Arc::new(crate::store::SqliteStore::in_memory().unwrap()),
        rooms: rooms.clone(),
        metrics: Arc::default(),
        last_seq: HashMap::new(),
        fanout: None,
        peers: None,
        peers_seen: HashMap::new(),
        sessions: Arc::default(),
    };
    let mut commit = |ids: &[&str]| {
        let (mut batch, rxs): (Vec<_>, Vec<_>) = ids.iter().map(|id| request("r", id)).unzip();
        w.commit(&mut batch);
        rxs.into_iter()
            .map(|mut rx| rx.try_recv().unwrap())
            .collect::<Vec<_>>()
    };
    let ok = commit(&["c1", "c2", "c1"]);
    assert_eq!(
        ok.iter().map(|r| *r.as_ref().unwrap()).collect::<Vec<_>>(),
        vec![Posted::New(1), Posted::New(2), Posted::Duplicate(1)]
    );
    failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = commit(&["c3", "c4", "c3", "c1"]);
    assert!(failed[0].is_err() && failed[1].is_err() && failed[2].is_err());
    assert_eq!(
        *failed[3].as_ref().unwrap(),
        Posted::Duplicate(1),
        "c1 was stored before"
    );
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let retried = commit(&["c3"]);
    assert_eq!(
        *retried[0].as_ref().unwrap(),
        Posted::New(3),
        "no gap left by the failed group"
    );
    assert_eq!(
        delivered(&mut inbox),
        vec![1, 2, 3],
        "only stored messages were fanned out"
    );
}
