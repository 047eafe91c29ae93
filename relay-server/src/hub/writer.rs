//! The chat writer: one thread that owns the store's appender, numbers and stores each group
//! of queued messages in one transaction, and only then fans them out and answers; it also
//! hears what other relay instances stored or said (`crate::peers`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use movietalk_protocol::relay::{ChatMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Bytes;

use super::rooms::{
    MAX_GROUP, PostRequest, Posted, Rooms, SPLIT_FANOUT, TAKEN_RETRIES, ToWriter, lock,
};
use crate::outlet::Mailbox;
use crate::outlet::text_frame;
use crate::peers::{FromPeer, Outbox, PEER_TIMEOUT, PeerEvent};
use crate::sessions::LiveSessions;
use crate::store::{AppendError, ChatAppender, ChatStore, Elsewhere, StoreError};

pub(super) struct Writer {
    pub(super) appender: Box<dyn ChatAppender>,
    /// For the messages other writers stored (see [`Writer::fan_out_stored`]).
    pub(super) store: Arc<dyn ChatStore>,
    pub(super) rooms: Rooms,
    pub(super) metrics: Arc<crate::metrics::Metrics>,
    /// The last sequence number stored in each room the writer has touched (read from the store
    /// the first time; forgotten when a commit fails, so it is read again).
    pub(super) last_seq: HashMap<String, u64>,
    /// Writes half of each large fan-out.
    pub(super) fanout: Option<Fanout>,
    /// To the other relay instances, if any (to answer their `Hello`).
    pub(super) peers: Option<Outbox>,
    /// When each other instance was last heard from.
    pub(super) peers_seen: HashMap<u64, Instant>,
    /// To end sessions that other instances ended.
    pub(super) sessions: Arc<LiveSessions>,
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
    pub(super) fn run(&mut self, mut queue: mpsc::Receiver<ToWriter>) {
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
    pub(super) fn commit(&mut self, batch: &mut Vec<PostRequest>) {
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
pub(super) struct Fanout {
    jobs: std::sync::mpsc::Sender<Vec<Job>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Fanout {
    /// Starts the thread; `None` if it could not be started (the writer then does it all).
    pub(super) fn start() -> Option<Fanout> {
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
