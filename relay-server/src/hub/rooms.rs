//! The hub's shared state: each room's members, presence and fan-out bookkeeping (`Room`,
//! under one lock), and what the writer thread is asked to do. Both the hub's API (`mod.rs`)
//! and the writer (`writer.rs`) work on these.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use movietalk_protocol::relay::{ChatMessage, ServerMessage};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Bytes;

use crate::outlet::{ConnId, Mailbox, text_frame};
use crate::store::{Elsewhere, StoreError};

/// Most messages stored in one transaction; under load the queue holds about one message per
/// sending connection (each waits for its acknowledgement), so groups rarely reach this.
pub(super) const MAX_GROUP: usize = 1024;
/// Times a batch is sorted out again when other writers keep storing its client ids first.
pub(super) const TAKEN_RETRIES: u32 = 8;

/// Messages waiting for the writer; a full queue makes posters wait (backpressure).
pub(super) const WRITER_QUEUE: usize = 4096;

/// Fan-outs with fewer deliveries than this are written by the writer thread alone; larger ones
/// are split with the fan-out thread, so both cores make the system calls.
pub(super) const SPLIT_FANOUT: usize = 64;

#[derive(Debug)]
pub(super) struct Member {
    /// Who this connection is (`crate::store::author_key`, or a guest connection's own key): presence counts distinct ones.
    pub(super) name: String,
    pub(super) mailbox: Mailbox,
}

#[derive(Debug, Default)]
pub(super) struct Room {
    /// The room's last sequence number in the store when the writer first stored a message in
    /// it since the relay started; `None` until then. Messages up to here were never fanned out.
    pub(super) base: Option<u64>,
    /// The last sequence number fanned out (every member was sent it); meaningful once `base`
    /// is known. A joining member gets history up to here and everything after it live.
    pub(super) fanned: u64,
    pub(super) members: HashMap<ConnId, Member>,
    /// People in the room on other relay instances (see `crate::peers`): who, and on which
    /// instances.
    pub(super) remote: HashMap<String, HashSet<u64>>,
    /// The store knows the name was used ([`ChatStore::claim_room`]): no one may create it.
    pub(super) claimed: bool,
    /// Connections kicked out of the room: they stay out for their lifetime, whoever they log
    /// in (or out) as. Forgotten when they end ([`Hub::gone`]).
    pub(super) kicked: HashSet<ConnId>,
}

impl Room {
    pub(super) fn present(&self) -> u32 {
        let mut names: HashSet<&str> = self.members.values().map(|m| m.name.as_str()).collect();
        names.extend(self.remote.keys().map(String::as_str));
        u32::try_from(names.len()).unwrap_or(u32::MAX)
    }

    /// Whether `name` has a connection in the room on this instance.
    pub(super) fn here(&self, name: &str) -> bool {
        self.members.values().any(|m| m.name == name)
    }

    /// Removes every connection of `key`, telling them they were kicked; true if there was one.
    pub(super) fn kick(&mut self, room: &str, key: &str) -> bool {
        let frame = kicked_frame(room);
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
    pub(super) fn broadcast(&self, msg: &ServerMessage, except: Option<ConnId>) {
        let frame = text_frame(&msg.to_json());
        for (conn, member) in &self.members {
            if Some(*conn) != except {
                member.mailbox.enqueue(&frame);
            }
        }
    }

    /// How many people are in room `name` now; when that is not `before`, everyone is told.
    pub(super) fn tell_presence(&self, name: &str, before: u32) -> u32 {
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
/// The `kicked` frame told to a connection taken out of `room`.
pub(super) fn kicked_frame(room: &str) -> Bytes {
    text_frame(
        &ServerMessage::Kicked {
            room: room.to_owned(),
        }
        .to_json(),
    )
}

pub(super) type Rooms = Arc<Mutex<HashMap<String, Room>>>;

pub(super) fn lock(rooms: &Rooms) -> std::sync::MutexGuard<'_, HashMap<String, Room>> {
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
pub(super) enum ToWriter {
    Post(PostRequest),
    /// Another writer stored messages (see [`ChatStore::watch_other_writers`]).
    Elsewhere(Elsewhere),
}

/// A message waiting for the writer.
pub(super) struct PostRequest {
    pub(super) room: String,
    pub(super) author: String,
    pub(super) guest: bool,
    /// Who, for idempotency (`crate::store::author_key`, or a guest connection's key).
    pub(super) key: String,
    pub(super) client_id: String,
    pub(super) text: String,
    pub(super) reply: oneshot::Sender<Result<Posted, StoreError>>,
}
