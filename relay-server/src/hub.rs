//! Rooms: who is in each, per-room sequence numbers, fan-out. Messages themselves live in the
//! [`ChatStore`]: a message is stored before it is fanned out or acknowledged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::{ChatStore, StoreError, author_key};

use movietalk_protocol::relay::{ChatMessage, ServerMessage};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Identifies one connection inside the hub.
pub type ConnId = u64;

/// How the hub reaches a member connection.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// Bounded queue of encoded frames for the connection's writer.
    pub frames: mpsc::Sender<Utf8Bytes>,
    /// Signalled when the queue overflowed: the connection must close (a slow reader never
    /// makes the relay buffer without bound).
    pub overflow: Arc<Notify>,
}

#[derive(Debug)]
struct Member {
    /// Who this connection is ([`author_key`]): presence counts distinct ones.
    name: String,
    mailbox: Mailbox,
}

#[derive(Debug, Default)]
struct Room {
    /// The last sequence number used, read from the store the first time the room is used.
    last_seq: Option<u64>,
    members: HashMap<ConnId, Member>,
}

impl Room {
    fn present(&self) -> u32 {
        let names: HashSet<&str> = self.members.values().map(|m| m.name.as_str()).collect();
        u32::try_from(names.len()).unwrap_or(u32::MAX)
    }

    fn broadcast(&self, msg: &ServerMessage) {
        let frame = Utf8Bytes::from(msg.to_json());
        for member in self.members.values() {
            if member.mailbox.frames.try_send(frame.clone()).is_err() {
                member.mailbox.overflow.notify_one();
            }
        }
    }
}

/// The result of [`Hub::post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Stored and fanned out under this sequence number.
    New(u64),
    /// The same author already posted this client id: nothing stored, here is its sequence.
    Duplicate(u64),
}

/// All rooms of one relay.
#[derive(Debug)]
pub struct Hub {
    rooms: Mutex<HashMap<String, Room>>,
    store: Arc<dyn ChatStore>,
    /// Per-account write buckets, shared by all of an account's connections.
    writes: Mutex<HashMap<u64, crate::connection::Bucket>>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Hub {
    pub fn new(store: Arc<dyn ChatStore>, metrics: Arc<crate::metrics::Metrics>) -> Self {
        Hub {
            rooms: Mutex::new(HashMap::new()),
            store,
            writes: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Sends `msg` to everyone in `room` but `except`.
    pub fn broadcast(&self, room: &str, msg: &ServerMessage, except: Option<ConnId>) {
        if let Some(r) = self.rooms().get(room) {
            let frame = Utf8Bytes::from(msg.to_json());
            for (conn, member) in &r.members {
                if Some(*conn) != except && member.mailbox.frames.try_send(frame.clone()).is_err() {
                    member.mailbox.overflow.notify_one();
                }
            }
        }
    }

    /// Removes every connection of `key` from `room`, telling them they were kicked.
    pub fn kick(&self, room: &str, key: &str) {
        let mut rooms = self.rooms();
        let Some(r) = rooms.get_mut(room) else { return };
        let before = r.present();
        let frame = Utf8Bytes::from(
            ServerMessage::Kicked {
                room: room.to_owned(),
            }
            .to_json(),
        );
        r.members.retain(|_, m| {
            if m.name == key {
                let _ = m.mailbox.frames.try_send(frame.clone());
                false
            } else {
                true
            }
        });
        let present = r.present();
        if present != before {
            r.broadcast(&ServerMessage::Presence {
                room: room.to_owned(),
                present,
            });
        }
    }

    /// Gives `conn`'s membership of `room` a new identity (log-in or log-out), telling the room
    /// when that changes how many people are there.
    pub fn rename_member(&self, room: &str, conn: ConnId, key: &str) {
        let mut rooms = self.rooms();
        let Some(r) = rooms.get_mut(room) else { return };
        let before = r.present();
        let Some(member) = r.members.get_mut(&conn) else {
            return;
        };
        member.name = key.to_owned();
        let present = r.present();
        if present != before {
            r.broadcast(&ServerMessage::Presence {
                room: room.to_owned(),
                present,
            });
        }
    }

    /// Distinct people in `room` now.
    pub fn present(&self, room: &str) -> u32 {
        self.rooms().get(room).map(Room::present).unwrap_or(0)
    }

    /// Names of rooms with at least one member.
    pub fn active_rooms(&self) -> Vec<String> {
        self.rooms()
            .iter()
            .filter(|(_, r)| !r.members.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Rooms with at least one member.
    pub fn room_count(&self) -> usize {
        self.rooms()
            .values()
            .filter(|r| !r.members.is_empty())
            .count()
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `conn` to `room` and returns the history after `since` (at most `limit` messages,
    /// the oldest first, so a resuming client pages forward from there) or the last `limit`
    /// messages, and the presence count. Others are told when the count changes.
    pub fn join(
        &self,
        room: &str,
        conn: ConnId,
        name: &str,
        mailbox: Mailbox,
        since: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<ChatMessage>, u32), StoreError> {
        let history = match since {
            Some(since) => self.store.range_forward(room, since, limit)?,
            None => self.store.range(room, 0, u64::MAX, limit)?,
        };
        let mut rooms = self.rooms();
        let r = rooms.entry(room.to_owned()).or_default();
        let before = r.present();
        r.members.insert(
            conn,
            Member {
                name: name.to_owned(),
                mailbox,
            },
        );
        let present = r.present();
        if present != before {
            r.broadcast(&ServerMessage::Presence {
                room: room.to_owned(),
                present,
            });
        }
        Ok((history, present))
    }

    /// Up to `limit` messages of `room` before sequence `before`, oldest first (scrollback).
    pub fn history(
        &self,
        room: &str,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.store.range(room, 0, before, limit)
    }

    /// Takes a write token for `account` (`rate` a second, `burst` saved up).
    pub fn take_write_token(&self, account: u64, rate: f64, burst: f64) -> bool {
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        // Forget full buckets now and then so the map does not grow with every account ever seen.
        if writes.len() > 100_000 {
            writes.clear();
        }
        writes
            .entry(account)
            .or_insert_with(|| crate::connection::Bucket::new(rate, burst))
            .take()
    }

    /// Removes `conn` from `room`; returns false when it was not there.
    pub fn leave(&self, room: &str, conn: ConnId) -> bool {
        let mut rooms = self.rooms();
        let Some(r) = rooms.get_mut(room) else {
            return false;
        };
        let before = r.present();
        if r.members.remove(&conn).is_none() {
            return false;
        }
        let present = r.present();
        if present != before {
            r.broadcast(&ServerMessage::Presence {
                room: room.to_owned(),
                present,
            });
        }
        true
    }

    /// True when `conn` is a member of `room`.
    pub fn is_member(&self, room: &str, conn: ConnId) -> bool {
        self.rooms()
            .get(room)
            .is_some_and(|r| r.members.contains_key(&conn))
    }

    /// Stores a message from `author` (a guest's name when `guest`) and sends it to everyone in
    /// the room, unless the same author already posted `client_id` there. The message is
    /// durable before anyone sees it.
    pub fn post(
        &self,
        room: &str,
        author: &str,
        guest: bool,
        client_id: &str,
        text: &str,
    ) -> Result<Posted, StoreError> {
        let key = author_key(author, guest);
        let mut rooms = self.rooms();
        let r = rooms.entry(room.to_owned()).or_default();
        if let Some(seq) = self.store.find_client_id(room, &key, client_id)? {
            return Ok(Posted::Duplicate(seq));
        }
        let last = match r.last_seq {
            Some(last) => last,
            None => self.store.last_seq(room)?,
        };
        let msg = ChatMessage {
            room: room.to_owned(),
            seq: last + 1,
            client_id: client_id.to_owned(),
            author: author.to_owned(),
            guest,
            text: text.to_owned(),
            sent_at_ms: now_ms(),
            deleted: false,
        };
        self.store.append(&msg, &key)?;
        r.last_seq = Some(msg.seq);
        r.broadcast(&ServerMessage::Message(msg.clone()));
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics.messages_total.fetch_add(1, Relaxed);
        self.metrics
            .deliveries_total
            .fetch_add(r.members.len() as u64, Relaxed);
        Ok(Posted::New(msg.seq))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub::new(
            Arc::new(crate::store::SqliteStore::in_memory().unwrap()),
            Arc::default(),
        )
    }

    fn mailbox(cap: usize) -> (Mailbox, mpsc::Receiver<Utf8Bytes>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(cap);
        let overflow = Arc::new(Notify::new());
        (
            Mailbox {
                frames: tx,
                overflow: overflow.clone(),
            },
            rx,
            overflow,
        )
    }

    #[test]
    fn presence_counts_people_not_connections() {
        let hub = hub();
        let (a1, _r1, _) = mailbox(8);
        let (a2, _r2, _) = mailbox(8);
        let (b, _r3, _) = mailbox(8);
        assert_eq!(hub.join("room", 1, "alice", a1, None, 10).unwrap().1, 1);
        assert_eq!(
            hub.join("room", 2, "alice", a2, None, 10).unwrap().1,
            1,
            "a second window of alice is still one person"
        );
        assert_eq!(hub.join("room", 3, "bob", b, None, 10).unwrap().1, 2);
        assert!(hub.leave("room", 1));
        assert!(!hub.leave("room", 1), "leaving twice is refused");
    }

    #[test]
    fn logging_in_moves_a_membership_to_the_account() {
        let hub = hub();
        let (a, _ra, _) = mailbox(8);
        let (b, _rb, _) = mailbox(8);
        assert_eq!(hub.join("r", 1, "g:minji", a, None, 10).unwrap().1, 1);
        assert_eq!(
            hub.join("r", 2, "a:minji", b, None, 10).unwrap().1,
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

    #[test]
    fn sequence_numbers_are_gapless_and_resends_are_stored_once() {
        let hub = hub();
        let (m, mut rx, _) = mailbox(8);
        hub.join("r", 1, "alice", m, None, 10).unwrap();
        assert_eq!(
            hub.post("r", "alice", false, "c1", "one").unwrap(),
            Posted::New(1)
        );
        assert_eq!(
            hub.post("r", "alice", false, "c2", "two").unwrap(),
            Posted::New(2)
        );
        assert_eq!(
            hub.post("r", "alice", false, "c1", "one").unwrap(),
            Posted::Duplicate(1)
        );
        assert_eq!(
            hub.post("r", "bob", false, "c1", "bob's own c1").unwrap(),
            Posted::New(3),
            "ids are per author"
        );
        assert_eq!(
            hub.post("r", "alice", true, "c1", "a guest called alice")
                .unwrap(),
            Posted::New(4),
            "a guest is not the account"
        );
        let mut seqs = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            if let Ok(ServerMessage::Message(m)) = serde_json::from_str(&frame) {
                seqs.push(m.seq);
            }
        }
        assert_eq!(seqs, vec![1, 2, 3, 4]);
    }

    #[test]
    fn history_resumes_after_since_pages_back_and_is_bounded() {
        let hub = hub();
        for i in 1..=5 {
            hub.post("r", "a", false, &format!("c{i}"), "x").unwrap();
        }
        let seqs = |v: Vec<ChatMessage>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        let (m, _rx, _) = mailbox(8);
        assert_eq!(
            seqs(hub.join("r", 1, "a", m, Some(3), 10).unwrap().0),
            vec![4, 5]
        );
        let (m, _rx, _) = mailbox(8);
        assert_eq!(
            seqs(hub.join("r", 2, "a", m, Some(1), 2).unwrap().0),
            vec![2, 3],
            "resume pages forward, no gap"
        );
        let (m, _rx, _) = mailbox(8);
        assert_eq!(
            seqs(hub.join("r", 3, "a", m, None, 2).unwrap().0),
            vec![4, 5],
            "a fresh join gets the latest"
        );
        assert_eq!(
            seqs(hub.history("r", 4, 2).unwrap()),
            vec![2, 3],
            "scrollback before seq 4"
        );
    }

    #[test]
    fn a_full_mailbox_signals_overflow() {
        let hub = hub();
        let (m, _rx, overflow) = mailbox(1);
        hub.join("r", 1, "slow", m, None, 10).unwrap();
        hub.post("r", "x", true, "c1", "fills the queue").unwrap();
        hub.post("r", "x", true, "c2", "overflows it").unwrap();
        let notified = overflow.notified();
        tokio::pin!(notified);
        // notify_one stored a permit, so the future completes at once.
        assert!(futures_util::FutureExt::now_or_never(notified).is_some());
    }
}
