//! Rooms: who is in each, per-room sequence numbers, fan-out. Messages themselves live in the
//! [`ChatStore`]. New messages go through one writer thread (see [`Hub::post`]) that stores
//! whatever is queued in one transaction (group commit), and only then fans each message out and
//! acknowledges it: a message is durable before anyone sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::peers::{Outbox, PeerEvent};
use crate::sessions::{Ended, LiveSessions, Why};
use crate::store::{ChatStore, StoreError};

use movietalk_protocol::relay::{BUILT_IN_ROOMS, ChatMessage, ServerMessage};
use tokio::sync::{mpsc, oneshot};

pub use crate::outlet::{ConnId, Mailbox};
pub use rooms::{Joined, Posted};

use rooms::{Member, PostRequest, Room, Rooms, ToWriter, WRITER_QUEUE, kicked_frame, lock};
use writer::{Fanout, Writer};

mod rooms;
mod sweep;
#[cfg(test)]
mod tests;
/// The writer thread: the only place new messages are numbered and stored.
mod writer;

/// All rooms of one relay.
#[derive(Debug)]
pub struct Hub {
    rooms: Rooms,
    /// Reads (history); new messages go through `writer`.
    store: Arc<dyn ChatStore>,
    /// The writer thread's queue. It owns the store's [`ChatAppender`] and ends when the hub
    /// is dropped, after storing everything already queued.
    writer: mpsc::Sender<ToWriter>,
    /// Per-account write buckets, shared by all of an account's connections.
    writes: Mutex<HashMap<u64, crate::bucket::Bucket>>,
    /// Per-address write buckets of guests, shared by all guest connections from one address.
    address_writes: Mutex<HashMap<std::net::IpAddr, crate::bucket::Bucket>>,
    /// To the other relay instances on the same database, if the store has any.
    peers: Option<Outbox>,
    /// Logged-in connections, so an ended session ends on each of them (shared with the
    /// writer, which hears of sessions ended on other instances).
    sessions: Arc<LiveSessions>,
}

impl Hub {
    /// The hub of `store`'s rooms, and its writer thread.
    pub fn new(
        store: Arc<dyn ChatStore>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Self, StoreError> {
        let rooms = Rooms::default();
        let sessions = Arc::new(LiveSessions::default());
        let (writer, queue) = mpsc::channel(WRITER_QUEUE);
        let peers = match store.peer_outbox()? {
            Some(outbox) => {
                let mut me = [0u8; 8];
                getrandom::fill(&mut me)
                    .map_err(|e| StoreError(format!("choosing an instance id: {e}")))?;
                Some(Outbox::start(u64::from_le_bytes(me), outbox)?)
            }
            None => None,
        };
        let mut w = Writer {
            appender: store.appender()?,
            store: store.clone(),
            rooms: rooms.clone(),
            metrics,
            last_seq: HashMap::new(),
            fanout: Fanout::start(),
            peers: peers.clone(),
            peers_seen: HashMap::new(),
            sessions: sessions.clone(),
        };
        std::thread::Builder::new()
            .name("chat-writer".into())
            .spawn(move || w.run(queue))
            .map_err(|e| StoreError(format!("starting the chat writer: {e}")))?;
        // What other relay instances store reaches the members here through the writer too,
        // in order. A weak handle: the watch ends with the hub.
        let weak = writer.downgrade();
        store.watch_other_writers(Box::new(move |what| match weak.upgrade() {
            Some(writer) => writer.blocking_send(ToWriter::Elsewhere(what)).is_ok(),
            None => false,
        }))?;
        if let Some(peers) = &peers {
            // Only now that this instance listens: the others answer with who is where.
            peers.tell(PeerEvent::Hello);
        }
        Ok(Hub {
            rooms,
            store,
            writer,
            writes: Mutex::new(HashMap::new()),
            address_writes: Mutex::new(HashMap::new()),
            peers,
            sessions,
        })
    }

    /// The logged-in connections of this instance.
    pub fn sessions(&self) -> &LiveSessions {
        &self.sessions
    }

    /// Ends `which` of `account`'s sessions on every connection but `except`, on every
    /// instance. Call it once the store no longer has those sessions.
    pub fn end_sessions(&self, account: u64, ended: Ended, except: Option<ConnId>, why: Why) {
        self.sessions.end(account, ended, except, why);
        self.tell_peers(PeerEvent::SessionsEnded {
            account,
            ended,
            why,
        });
    }

    /// Tells the other instances, if any.
    fn tell_peers(&self, event: PeerEvent) {
        if let Some(peers) = &self.peers {
            peers.tell(event);
        }
    }

    /// Tells the other instances that `person`'s presence in `room` here changed, if it did.
    fn tell_peers_presence(&self, room: &str, person: &str, was: bool, is: bool) {
        let (room, person) = (room.to_owned(), person.to_owned());
        match (was, is) {
            (false, true) => self.tell_peers(PeerEvent::Joined { room, person }),
            (true, false) => self.tell_peers(PeerEvent::Left { room, person }),
            _ => {}
        }
    }

    /// Sends `msg` to everyone in `room` but `except`, on every instance.
    pub fn broadcast(&self, room: &str, msg: &ServerMessage, except: Option<ConnId>) {
        if let Some(r) = self.rooms().get(room) {
            r.broadcast(msg, except);
        }
        self.tell_peers(PeerEvent::Frame {
            room: room.to_owned(),
            msg: msg.clone(),
        });
    }

    /// Removes every connection of `key` from `room`, telling them they were kicked, on every
    /// instance.
    pub fn kick(&self, room: &str, key: &str) {
        if let Some(r) = self.rooms().get_mut(room) {
            let before = r.present();
            if r.kick(room, key) {
                r.tell_presence(room, before);
                self.tell_peers_presence(room, key, true, false);
            }
        }
        self.tell_peers(PeerEvent::Kick {
            room: room.to_owned(),
            key: key.to_owned(),
        });
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
        let old = std::mem::replace(&mut member.name, key.to_owned());
        if old == key {
            return;
        }
        let had_new = r.members.iter().any(|(c, m)| *c != conn && m.name == key);
        self.tell_peers_presence(room, &old, true, r.here(&old));
        self.tell_peers_presence(room, key, had_new, true);
        r.tell_presence(room, before);
    }

    /// Whether the store answers (see [`ChatStore::check`]).
    pub fn check_store(&self) -> Result<(), StoreError> {
        self.store.check()
    }

    /// Distinct people in `room` now.
    pub fn present(&self, room: &str) -> u32 {
        self.rooms().get(room).map(Room::present).unwrap_or(0)
    }

    /// Names of rooms with at least one member.
    pub fn active_rooms(&self) -> Vec<String> {
        self.rooms()
            .iter()
            .filter(|(_, r)| !r.members.is_empty() || !r.remote.is_empty())
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
        lock(&self.rooms)
    }

    /// Adds `conn` to `room` and returns the history after `since` (at most `limit` messages,
    /// the oldest first, so a resuming client pages forward from there) or the last `limit`
    /// messages, and the presence count. Others are told when the count changes.
    ///
    /// Live delivery starts after [`Joined::live_after`]: every message up to it is in the
    /// history or read with forward [`Hub::history`] pages, every later one is sent to
    /// `mailbox` — never both, never neither.
    pub fn join(
        &self,
        room: &str,
        conn: ConnId,
        name: &str,
        mailbox: Mailbox,
        since: Option<u64>,
        limit: usize,
    ) -> Result<Joined, StoreError> {
        // A name once used can no longer be created by anyone (and so moderated): remember it,
        // once per room and process. Film rooms and the built-in ones can never be created.
        let claimed = self.rooms().get(room).is_some_and(|r| r.claimed);
        let creatable = !room.starts_with("film:") && !BUILT_IN_ROOMS.contains(&room);
        if !claimed && creatable {
            self.store.claim_room(room)?;
        }
        // Membership first: from here on this connection is sent every message fanned out.
        let (present, cut) = {
            let mut rooms = self.rooms();
            let r = rooms.entry(room.to_owned()).or_default();
            r.claimed = true;
            let before = r.present();
            self.tell_peers_presence(room, name, r.here(name), true);
            r.members.insert(
                conn,
                Member {
                    name: name.to_owned(),
                    mailbox,
                },
            );
            if r.base.is_none() {
                // Where live delivery begins, before reading any history: the newest stored
                // number. No message of this room is being stored here (the writer marks the
                // base first), and what other writers store later reaches the writer's catch-up
                // after this. Read under the rooms' lock, once per room.
                let newest = self.store.range(room, 0, u64::MAX, 1);
                match newest {
                    Ok(newest) => {
                        let seq = newest.last().map_or(0, |m| m.seq);
                        r.base = Some(seq);
                        r.fanned = seq;
                    }
                    Err(e) => {
                        r.members.remove(&conn);
                        self.tell_peers_presence(room, name, true, r.here(name));
                        return Err(e);
                    }
                }
            }
            (r.tell_presence(room, before), r.base.map(|_| r.fanned))
        };
        let read = || match since {
            Some(since) => self.store.range_forward(room, since, limit),
            None => self.store.range(
                room,
                0,
                cut.map_or(u64::MAX, |c| c.saturating_add(1)),
                limit,
            ),
        };
        let history = match read() {
            Ok(history) => history,
            Err(e) => {
                self.leave(room, conn);
                return Err(e);
            }
        };
        // Messages after the cut reach the mailbox live. With no cut yet, the writer had not
        // stored anything in this room since start when we joined: everything it stores from
        // then on (after `base`) is sent live.
        let cut = cut
            .or_else(|| self.rooms().get(room).and_then(|r| r.base))
            .unwrap_or(0);
        let history = history.into_iter().filter(|m| m.seq <= cut).collect();
        Ok(Joined {
            history,
            present,
            live_after: cut,
        })
    }

    /// Up to `limit` messages of `room` before sequence `before`, oldest first: the newest of
    /// them (scrollback), or with `after` the oldest after it (catching up to a join's
    /// `live_after`).
    pub fn history(
        &self,
        room: &str,
        after: Option<u64>,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        match after {
            None => self.store.range(room, 0, before, limit),
            Some(after) => Ok(self
                .store
                .range_forward(room, after, limit)?
                .into_iter()
                .filter(|m| m.seq < before)
                .collect()),
        }
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
            .or_insert_with(|| crate::bucket::Bucket::new(rate, burst))
            .take()
    }

    /// Takes a write token for guests at `address` (`rate` a second, `burst` saved up).
    pub fn take_address_token(&self, address: std::net::IpAddr, rate: f64, burst: f64) -> bool {
        let mut writes = self
            .address_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if writes.len() > 100_000 {
            writes.clear();
        }
        writes
            .entry(address)
            .or_insert_with(|| crate::bucket::Bucket::new(rate, burst))
            .take()
    }

    /// Takes `conn` out of `room` and keeps it out for its lifetime, telling it `kicked` (its
    /// account turned out to be banned there).
    pub fn kick_conn(&self, room: &str, conn: ConnId) {
        let mut rooms = self.rooms();
        let Some(r) = rooms.get_mut(room) else { return };
        let before = r.present();
        r.kicked.insert(conn);
        if let Some(gone) = r.members.remove(&conn) {
            gone.mailbox.enqueue(&kicked_frame(room));
            self.tell_peers_presence(room, &gone.name, true, r.here(&gone.name));
            r.tell_presence(room, before);
        }
    }

    /// Whether this relay holds `room` (someone joined it since the relay started).
    pub fn holds(&self, room: &str) -> bool {
        self.rooms().contains_key(room)
    }

    /// Whether `conn` was kicked out of `room`.
    pub fn was_kicked(&self, room: &str, conn: ConnId) -> bool {
        self.rooms()
            .get(room)
            .is_some_and(|r| r.kicked.contains(&conn))
    }

    /// `conn` ended: it leaves `room`, and the room forgets it was kicked.
    pub fn gone(&self, room: &str, conn: ConnId) {
        self.leave(room, conn);
        if let Some(r) = self.rooms().get_mut(room) {
            r.kicked.remove(&conn);
        }
    }

    /// Removes `conn` from `room`; returns false when it was not there.
    pub fn leave(&self, room: &str, conn: ConnId) -> bool {
        let mut rooms = self.rooms();
        let Some(r) = rooms.get_mut(room) else {
            return false;
        };
        let before = r.present();
        let Some(gone) = r.members.remove(&conn) else {
            return false;
        };
        self.tell_peers_presence(room, &gone.name, true, r.here(&gone.name));
        r.tell_presence(room, before);
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
    /// durable before anyone sees it; this returns once it is (or failed).
    pub async fn post(
        &self,
        room: &str,
        (author, guest, key): (&str, bool, &str),
        client_id: &str,
        text: &str,
    ) -> Result<Posted, StoreError> {
        let (reply, posted) = oneshot::channel();
        let request = PostRequest {
            room: room.to_owned(),
            author: author.to_owned(),
            guest,
            key: key.to_owned(),
            client_id: client_id.to_owned(),
            text: text.to_owned(),
            reply,
        };
        let stopped = || StoreError("the chat writer stopped".into());
        self.writer
            .send(ToWriter::Post(request))
            .await
            .map_err(|_| stopped())?;
        posted.await.map_err(|_| stopped())?
    }
}

impl Drop for Hub {
    /// The relay is stopping (every connection has ended): the other instances stop counting
    /// its people now.
    fn drop(&mut self) {
        if let Some(peers) = &self.peers {
            peers.say_bye(std::time::Duration::from_secs(1));
        }
    }
}
