//! Rooms: who is in each, per-room sequence numbers, fan-out. Messages themselves live in the
//! [`ChatStore`]. New messages go through one writer thread (see [`Hub::post`]) that stores
//! whatever is queued in one transaction (group commit), and only then fans each message out and
//! acknowledges it: a message is durable before anyone sees it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::peers::{FromPeer, Outbox, PEER_TIMEOUT, PeerEvent};
use crate::sessions::{Ended, LiveSessions, Why};
use crate::store::{AppendError, ChatAppender, ChatStore, Elsewhere, StoreError};

use movietalk_protocol::relay::{BUILT_IN_ROOMS, ChatMessage, ServerMessage};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Bytes;

pub use crate::outlet::ConnId;

/// Most messages stored in one transaction; under load the queue holds about one message per
/// sending connection (each waits for its acknowledgement), so groups rarely reach this.
const MAX_GROUP: usize = 1024;
/// Times a batch is sorted out again when other writers keep storing its client ids first.
const TAKEN_RETRIES: u32 = 8;

/// Messages waiting for the writer; a full queue makes posters wait (backpressure).
const WRITER_QUEUE: usize = 4096;

pub use crate::outlet::Mailbox;
use crate::outlet::text_frame;

/// Fan-outs with fewer deliveries than this are written by the writer thread alone; larger ones
/// are split with the fan-out thread, so both cores make the system calls.
const SPLIT_FANOUT: usize = 64;

#[derive(Debug)]
struct Member {
    /// Who this connection is (`crate::store::author_key`, or a guest connection's own key): presence counts distinct ones.
    name: String,
    mailbox: Mailbox,
}

#[derive(Debug, Default)]
struct Room {
    /// The room's last sequence number in the store when the writer first stored a message in
    /// it since the relay started; `None` until then. Messages up to here were never fanned out.
    base: Option<u64>,
    /// The last sequence number fanned out (every member was sent it); meaningful once `base`
    /// is known. A joining member gets history up to here and everything after it live.
    fanned: u64,
    members: HashMap<ConnId, Member>,
    /// People in the room on other relay instances (see `crate::peers`): who, and on which
    /// instances.
    remote: HashMap<String, HashSet<u64>>,
    /// The store knows the name was used ([`ChatStore::claim_room`]): no one may create it.
    claimed: bool,
    /// Connections kicked out of the room: they stay out for their lifetime, whoever they log
    /// in (or out) as. Forgotten when they end ([`Hub::gone`]).
    kicked: HashSet<ConnId>,
}

impl Room {
    fn present(&self) -> u32 {
        let mut names: HashSet<&str> = self.members.values().map(|m| m.name.as_str()).collect();
        names.extend(self.remote.keys().map(String::as_str));
        u32::try_from(names.len()).unwrap_or(u32::MAX)
    }

    /// Whether `name` has a connection in the room on this instance.
    fn here(&self, name: &str) -> bool {
        self.members.values().any(|m| m.name == name)
    }

    /// Removes every connection of `key`, telling them they were kicked; true if there was one.
    fn kick(&mut self, room: &str, key: &str) -> bool {
        let frame = text_frame(
            &ServerMessage::Kicked {
                room: room.to_owned(),
            }
            .to_json(),
        );
        let before = self.members.len();
        let kicked = &mut self.kicked;
        self.members.retain(|conn, m| {
            if m.name == key {
                m.mailbox.enqueue(&frame);
                kicked.insert(*conn);
                false
            } else {
                true
            }
        });
        self.members.len() != before
    }

    /// Queues `msg` for every member but `except` (under the rooms' lock: no system calls here).
    fn broadcast(&self, msg: &ServerMessage, except: Option<ConnId>) {
        let frame = text_frame(&msg.to_json());
        for (conn, member) in &self.members {
            if Some(*conn) != except {
                member.mailbox.enqueue(&frame);
            }
        }
    }

    /// How many people are in room `name` now; when that is not `before`, everyone is told.
    fn tell_presence(&self, name: &str, before: u32) -> u32 {
        let present = self.present();
        if present != before {
            let msg = ServerMessage::Presence {
                room: name.to_owned(),
                present,
            };
            self.broadcast(&msg, None);
        }
        present
    }
}

/// Rooms by name, shared by the connections (join, leave, presence) and the writer (fan-out).
/// Held only for in-memory work, never across disk I/O.
type Rooms = Arc<Mutex<HashMap<String, Room>>>;

fn lock(rooms: &Rooms) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    rooms
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The result of [`Hub::join`].
#[derive(Debug)]
pub struct Joined {
    /// The messages after the joiner's `since` (the oldest, up to a page) or the newest page,
    /// oldest first, none past `live_after`.
    pub history: Vec<ChatMessage>,
    /// Distinct people in the room now.
    pub present: u32,
    /// Every later message is delivered live.
    pub live_after: u64,
}

/// The result of [`Hub::post`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Stored and fanned out under this sequence number.
    New(u64),
    /// The same author already posted this client id: nothing stored, here is its sequence.
    Duplicate(u64),
}

/// What the writer thread is asked to do.
enum ToWriter {
    Post(PostRequest),
    /// Another writer stored messages (see [`ChatStore::watch_other_writers`]).
    Elsewhere(Elsewhere),
}

/// A message waiting for the writer.
struct PostRequest {
    room: String,
    author: String,
    guest: bool,
    /// Who, for idempotency (`crate::store::author_key`, or a guest connection's key).
    key: String,
    client_id: String,
    text: String,
    reply: oneshot::Sender<Result<Posted, StoreError>>,
}

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
            let kicked = ServerMessage::Kicked {
                room: room.to_owned(),
            };
            gone.mailbox.enqueue(&text_frame(&kicked.to_json()));
            self.tell_peers_presence(room, &gone.name, true, r.here(&gone.name));
            r.tell_presence(room, before);
        }
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

/// The writer thread: the only place new messages are numbered and stored.
struct Writer {
    appender: Box<dyn ChatAppender>,
    /// For the messages other writers stored (see [`Writer::fan_out_stored`]).
    store: Arc<dyn ChatStore>,
    rooms: Rooms,
    metrics: Arc<crate::metrics::Metrics>,
    /// The last sequence number stored in each room the writer has touched (read from the store
    /// the first time; forgotten when a commit fails, so it is read again).
    last_seq: HashMap<String, u64>,
    /// Writes half of each large fan-out.
    fanout: Option<Fanout>,
    /// To the other relay instances, if any (to answer their `Hello`).
    peers: Option<Outbox>,
    /// When each other instance was last heard from.
    peers_seen: HashMap<u64, Instant>,
    /// To end sessions that other instances ended.
    sessions: Arc<LiveSessions>,
}

/// What becomes of one request of a group.
enum Outcome {
    /// Stored as `group[i]`.
    New(usize),
    /// Already stored before this group.
    Stored(u64),
    /// The same author and client id as an earlier request of this group, stored as `group[i]`.
    SameAs(usize),
    Failed(StoreError),
}

impl Writer {
    fn run(&mut self, mut queue: mpsc::Receiver<ToWriter>) {
        let mut batch = Vec::new();
        let mut elsewhere = Vec::new();
        while let Some(first) = queue.blocking_recv() {
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    ToWriter::Post(post) => batch.push(post),
                    ToWriter::Elsewhere(what) => elsewhere.push(what),
                }
                if batch.len() < MAX_GROUP {
                    next = queue.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch);
            }
            if !elsewhere.is_empty() {
                self.catch_up(&mut elsewhere);
            }
        }
    }

    /// Sends the members here what other writers stored in their rooms, in order after what
    /// was fanned out here (nothing for rooms no one here has joined: their first join reads
    /// the store).
    fn catch_up(&mut self, news: &mut Vec<Elsewhere>) {
        let mut upto: HashMap<String, u64> = HashMap::new();
        for what in news.drain(..) {
            match what {
                Elsewhere::Peer(payload) => {
                    // After the messages announced before it (a deletion after its message).
                    self.fan_out_stored(std::mem::take(&mut upto));
                    if let Some(event) = FromPeer::decode(&payload) {
                        self.heard_from_peer(event);
                    }
                }
                Elsewhere::Stored { room, seq } => {
                    let known = self.last_seq.entry(room.clone()).or_insert(0);
                    *known = (*known).max(seq);
                    let up = upto.entry(room).or_insert(0);
                    *up = (*up).max(seq);
                }
                Elsewhere::MayHaveMissed => {
                    if let Some(peers) = &self.peers {
                        // Presence news may be lost too: ask everyone again.
                        peers.tell(PeerEvent::Hello);
                    }
                    self.last_seq.clear();
                    for room in lock(&self.rooms).keys() {
                        upto.insert(room.clone(), u64::MAX);
                    }
                }
                Elsewhere::Quiet => {}
            }
        }
        self.fan_out_stored(upto);
        self.forget_silent_peers();
    }

    /// Fans out what the store holds in each room after what was fanned out here, up to the
    /// given number: what other writers (relay instances on the same database) stored, so
    /// members get every number in order, whoever wrote it.
    fn fan_out_stored(&mut self, upto: HashMap<String, u64>) {
        let mut wanted: Vec<(String, u64, u64)> = {
            let rooms = lock(&self.rooms);
            upto.into_iter()
                .filter_map(|(room, upto)| {
                    let r = rooms.get(&room)?;
                    (r.base.is_some() && r.fanned < upto).then_some((room, r.fanned, upto))
                })
                .collect()
        };
        // One read for every room (a round trip on PostgreSQL), then again for the rooms
        // that had more than a page waiting.
        while !wanted.is_empty() {
            let found = match self.store.ranges(&wanted, MAX_GROUP) {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the messages another writer stored failed");
                    return;
                }
            };
            self.metrics
                .peer_messages_total
                .fetch_add(found.len() as u64, Relaxed);
            self.fan_out(found.iter());
            wanted.retain_mut(|(room, after, upto)| {
                let got: Vec<u64> = found
                    .iter()
                    .filter(|m| &m.room == room)
                    .map(|m| m.seq)
                    .collect();
                match got.last() {
                    Some(&last) if got.len() == MAX_GROUP && last < *upto => {
                        *after = last;
                        true
                    }
                    _ => false,
                }
            });
        }
    }

    /// Acts on an event from another instance (see `crate::peers`).
    fn heard_from_peer(&mut self, FromPeer { from, event }: FromPeer) {
        let Some(peers) = &self.peers else { return };
        if from == peers.me() {
            return;
        }
        if self.peers_seen.insert(from, Instant::now()).is_none() {
            self.metrics
                .peer_instances
                .store(self.peers_seen.len() as u64, Relaxed);
        }
        if event == PeerEvent::Bye {
            self.forget_peers(&[from]);
            return;
        }
        let mut rooms = lock(&self.rooms);
        match event {
            PeerEvent::Frame { room, msg } => {
                if let Some(r) = rooms.get(&room) {
                    r.broadcast(&msg, None);
                }
            }
            PeerEvent::Kick { room, key } => {
                if let Some(r) = rooms.get_mut(&room) {
                    let before = r.present();
                    if r.kick(&room, &key) {
                        r.tell_presence(&room, before);
                        peers.tell(PeerEvent::Left { room, person: key });
                    }
                }
            }
            PeerEvent::Joined { room, person } => {
                let r = rooms.entry(room.clone()).or_default();
                let before = r.present();
                r.remote.entry(person).or_default().insert(from);
                r.tell_presence(&room, before);
            }
            PeerEvent::Left { room, person } => {
                if let Some(r) = rooms.get_mut(&room) {
                    let before = r.present();
                    if let Some(on) = r.remote.get_mut(&person) {
                        on.remove(&from);
                        if on.is_empty() {
                            r.remote.remove(&person);
                        }
                    }
                    r.tell_presence(&room, before);
                }
            }
            PeerEvent::Hello => {
                // A new (or reconnected) instance: tell it who is here.
                for (room, r) in rooms.iter() {
                    let people: HashSet<&str> =
                        r.members.values().map(|m| m.name.as_str()).collect();
                    for person in people {
                        peers.tell(PeerEvent::Joined {
                            room: room.clone(),
                            person: person.to_owned(),
                        });
                    }
                }
            }
            PeerEvent::SessionsEnded {
                account,
                ended,
                why,
            } => {
                self.sessions.end(account, ended, None, why);
            }
            // Bye is handled above.
            PeerEvent::Alive | PeerEvent::Bye => {}
        }
    }

    /// Stops counting the people of instances not heard from for [`PEER_TIMEOUT`].
    fn forget_silent_peers(&mut self) {
        let silent: Vec<u64> = self
            .peers_seen
            .iter()
            .filter(|(_, seen)| seen.elapsed() > PEER_TIMEOUT)
            .map(|(id, _)| *id)
            .collect();
        if silent.is_empty() {
            return;
        }
        tracing::warn!(
            instances = silent.len(),
            "other relay instances went silent; their people no longer count"
        );
        self.forget_peers(&silent);
    }

    /// Stops counting the people of `instances` (gone silent, or said Bye).
    fn forget_peers(&mut self, instances: &[u64]) {
        {
            let mut rooms = lock(&self.rooms);
            for (name, r) in rooms.iter_mut() {
                let before = r.present();
                r.remote.retain(|_, on| {
                    on.retain(|i| !instances.contains(i));
                    !on.is_empty()
                });
                r.tell_presence(name, before);
            }
        }
        for id in instances {
            self.peers_seen.remove(id);
        }
        self.metrics
            .peer_instances
            .store(self.peers_seen.len() as u64, Relaxed);
    }

    /// Numbers and stores `batch` in one transaction, then fans each new message out and
    /// answers every request. The store numbers the group for good: another relay instance on
    /// the same database may have stored messages in its rooms since this writer last looked
    /// (they are fanned out first, [`Writer::fan_out_stored`]). When another writer stored one of
    /// the group's (author, client id) first, the batch is sorted out again — that request is
    /// now a duplicate — and retried.
    fn commit(&mut self, batch: &mut Vec<PostRequest>) {
        let mut attempts = 0;
        let (group, outcomes, stored) = loop {
            attempts += 1;
            let (mut group, outcomes) = self.number(batch);
            let stored = if group.is_empty() {
                Ok(())
            } else {
                self.mark_bases(&group);
                match self.appender.append_group(&mut group) {
                    Ok(()) => {
                        for (m, _) in &group {
                            self.last_seq.insert(m.room.clone(), m.seq);
                        }
                        Ok(())
                    }
                    Err(AppendError::Taken) if attempts < TAKEN_RETRIES => {
                        tracing::debug!(attempts, "another writer stored a client id first");
                        continue;
                    }
                    Err(AppendError::Taken) => Err(StoreError(format!(
                        "other writers kept storing this group's client ids first ({attempts} attempts)"
                    ))),
                    Err(AppendError::Store(e)) => Err(e),
                }
            };
            break (group, outcomes, stored);
        };
        if let Err(e) = &stored {
            tracing::error!(error = %e, messages = group.len(), "storing a group of chat messages failed");
            for (m, _) in &group {
                self.last_seq.remove(&m.room);
            }
        } else if !group.is_empty() {
            self.metrics
                .messages_total
                .fetch_add(group.len() as u64, Relaxed);
            // First what other writers stored in these rooms before this group's numbers.
            let mut before: HashMap<String, u64> = HashMap::new();
            for (m, _) in &group {
                before.entry(m.room.clone()).or_insert(m.seq - 1);
            }
            self.fan_out_stored(before);
            self.fan_out(group.iter().map(|(m, _)| m));
        }
        for (req, outcome) in batch.drain(..).zip(outcomes) {
            let answer = match (outcome, &stored) {
                (Outcome::Stored(seq), _) => Ok(Posted::Duplicate(seq)),
                (Outcome::Failed(e), _) => Err(e),
                (_, Err(e)) => Err(StoreError(e.0.clone())),
                (Outcome::New(i), Ok(())) => Ok(Posted::New(group[i].0.seq)),
                (Outcome::SameAs(i), Ok(())) => Ok(Posted::Duplicate(group[i].0.seq)),
            };
            // The poster may have gone away; the message is stored all the same.
            let _ = req.reply.send(answer);
        }
    }

    /// Gives each request of `batch` its sequence number (or finds it already stored): the
    /// group to store and what becomes of each request.
    fn number(&mut self, batch: &[PostRequest]) -> (Vec<(ChatMessage, String)>, Vec<Outcome>) {
        let mut group: Vec<(ChatMessage, String)> = Vec::with_capacity(batch.len());
        let mut outcomes = Vec::with_capacity(batch.len());
        // (room, author key, client id) → sequence, for resends within the group.
        let mut in_group: HashMap<(&str, String, &str), usize> = HashMap::new();
        let now = now_ms();
        let keys: Vec<String> = batch.iter().map(|req| req.key.clone()).collect();
        // One question to the store for the whole batch (a round trip each on PostgreSQL).
        let asked: Vec<(&str, &str, &str)> = batch
            .iter()
            .zip(&keys)
            .map(|(req, key)| (req.room.as_str(), key.as_str(), req.client_id.as_str()))
            .collect();
        let found = self.appender.find_client_ids(&asked);
        for (i, (req, key)) in batch.iter().zip(keys).enumerate() {
            if let Some(&i) =
                in_group.get(&(req.room.as_str(), key.clone(), req.client_id.as_str()))
            {
                outcomes.push(Outcome::SameAs(i));
                continue;
            }
            match &found {
                Ok(found) => {
                    if let Some(seq) = found[i] {
                        outcomes.push(Outcome::Stored(seq));
                        continue;
                    }
                }
                Err(e) => {
                    outcomes.push(Outcome::Failed(StoreError(e.0.clone())));
                    continue;
                }
            }
            let last = match self.last_seq.get(&req.room) {
                Some(&last) => last,
                None => match self.appender.last_seq(&req.room) {
                    Ok(last) => last,
                    Err(e) => {
                        outcomes.push(Outcome::Failed(e));
                        continue;
                    }
                },
            };
            let seq = last + 1;
            self.last_seq.insert(req.room.clone(), seq);
            in_group.insert(
                (req.room.as_str(), key.clone(), req.client_id.as_str()),
                group.len(),
            );
            outcomes.push(Outcome::New(group.len()));
            group.push((
                ChatMessage {
                    room: req.room.clone(),
                    seq,
                    client_id: req.client_id.clone(),
                    author: req.author.clone(),
                    guest: req.guest,
                    text: req.text.clone(),
                    sent_at_ms: now,
                    deleted: false,
                },
                key,
            ));
        }
        drop(in_group);
        (group, outcomes)
    }

    /// Before the first message of a room is stored since start, records where its stored
    /// history ends (so [`Hub::join`] knows where live delivery begins).
    /// The store may still give the group later numbers (another writer's messages came
    /// between): those are fanned out from the store first, so live delivery still begins
    /// right after `base`.
    fn mark_bases(&self, group: &[(ChatMessage, String)]) {
        let mut rooms = lock(&self.rooms);
        for (m, _) in group {
            let r = rooms.entry(m.room.clone()).or_default();
            if r.base.is_none() {
                // The group is numbered in order: its first message in this room comes first.
                r.base = Some(m.seq - 1);
                r.fanned = m.seq - 1;
            }
        }
    }

    /// Sends each stored message to its room, in sequence order: one job per room (its frames
    /// in order, and the members at this moment), written outside the rooms' lock. A large
    /// fan-out is split with the fan-out thread by members, and both halves are written before
    /// the writer moves on (and acknowledges), so every member gets the rooms' messages in
    /// order and an acknowledged message has been sent to everyone.
    fn fan_out<'a>(&self, messages: impl Iterator<Item = &'a ChatMessage>) {
        let group: Vec<&ChatMessage> = messages.collect();
        // Encode outside the lock, once per message for all members.
        let frames: Vec<Bytes> = group
            .iter()
            .map(|m| text_frame(&ServerMessage::Message((*m).clone()).to_json()))
            .collect();
        let mut jobs: Vec<Job> = Vec::new();
        let mut deliveries = 0usize;
        {
            let mut by_room: HashMap<&str, usize> = HashMap::new();
            let mut rooms = lock(&self.rooms);
            for (m, frame) in group.iter().zip(&frames) {
                let r = rooms.entry(m.room.clone()).or_default();
                r.fanned = m.seq;
                let job = *by_room.entry(m.room.as_str()).or_insert_with(|| {
                    jobs.push(Job {
                        frames: Vec::new(),
                        to: r.members.values().map(|m| m.mailbox.clone()).collect(),
                    });
                    jobs.len() - 1
                });
                jobs[job].frames.push(frame.clone());
                deliveries += jobs[job].to.len();
            }
        }
        let helped = match &self.fanout {
            Some(fanout) if deliveries >= SPLIT_FANOUT => {
                let half: Vec<Job> = jobs
                    .iter_mut()
                    .map(|job| Job {
                        frames: job.frames.clone(),
                        to: job.to.split_off(job.to.len() / 2),
                    })
                    .collect();
                match fanout.jobs.send(half) {
                    Ok(()) => true,
                    // The fan-out thread is gone: the writer writes its half too.
                    Err(std::sync::mpsc::SendError(half)) => {
                        run_jobs(&half);
                        false
                    }
                }
            }
            _ => false,
        };
        run_jobs(&jobs);
        if helped {
            // Its half is written too before anyone is acknowledged.
            let _ = self.fanout.as_ref().map(|f| f.done.recv());
        }
        self.metrics
            .deliveries_total
            .fetch_add(deliveries as u64, Relaxed);
    }
}

/// Frames of one room, in order, for some of its members.
struct Job {
    frames: Vec<Bytes>,
    to: Vec<Mailbox>,
}

fn run_jobs(jobs: &[Job]) {
    for job in jobs {
        for mailbox in &job.to {
            mailbox.deliver(&job.frames);
        }
    }
}

/// The writer's helper thread: writes its share of a fan-out, then says so.
struct Fanout {
    jobs: std::sync::mpsc::Sender<Vec<Job>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Fanout {
    /// Starts the thread; `None` if it could not be started (the writer then does it all).
    fn start() -> Option<Fanout> {
        let (jobs, queue) = std::sync::mpsc::channel::<Vec<Job>>();
        let (tell, done) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("chat-fanout".into())
            .spawn(move || {
                for jobs in queue {
                    run_jobs(&jobs);
                    drop(jobs);
                    if tell.send(()).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "no fan-out thread; the writer fans out alone"))
            .ok()?;
        Some(Fanout { jobs, done })
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
    use crate::store::author_key;
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
            let mut ws = WebSocket::from_raw_socket(
                std::io::Cursor::new(frame.to_vec()),
                Role::Client,
                None,
            );
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
        fn find_client_id(
            &mut self,
            room: &str,
            key: &str,
            id: &str,
        ) -> Result<Option<u64>, StoreError> {
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

    fn request(
        room: &str,
        id: &str,
    ) -> (PostRequest, oneshot::Receiver<Result<Posted, StoreError>>) {
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
}
