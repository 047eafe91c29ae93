//! What relay instances on one database tell each other besides new chat messages: typing,
//! deletions and kicks (frames for a room's members wherever they are connected) and presence
//! (who is in which room on which instance, so every instance counts distinct people across
//! all of them).
//!
//! The store carries the events ([`crate::store::ChatStore::peer_outbox`] and
//! [`crate::store::Elsewhere::Peer`]; PostgreSQL's NOTIFY on its own channel). One thread per
//! instance sends them, in the order the hub queued them, so a "left" never overtakes its
//! "joined". Presence is kept as deltas: each instance announces a person's first connection to
//! a room (`Joined`) and the last one leaving (`Left`); `Alive` every [`HEARTBEAT`]; and
//! `Hello` when an instance starts or its listening was interrupted, which every other instance
//! answers by announcing all of its people again. An instance not heard from for
//! [`PEER_TIMEOUT`] (it crashed, or lost its database) no longer counts; one that stops says
//! `Bye` and waits until it is sent.

use std::sync::mpsc;
use std::time::Duration;

use movietalk_protocol::relay::ServerMessage;
use serde::{Deserialize, Serialize};

use crate::store::{PeerOutbox, StoreError};

/// How often an instance says it is alive when it has said nothing else.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long an instance may be silent before its people stop counting.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// One event from one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromPeer {
    /// The sending instance (random at start).
    pub from: u64,
    #[serde(flatten)]
    pub event: PeerEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PeerEvent {
    /// A frame for every member of `room` (typing, a deleted message).
    Frame {
        room: String,
        msg: ServerMessage,
    },
    /// Every connection of `key` leaves `room`, told it was kicked.
    Kick {
        room: String,
        key: String,
    },
    /// `person` has a first connection in `room` on the sender.
    Joined {
        room: String,
        person: String,
    },
    /// `person`'s last connection in `room` on the sender left.
    Left {
        room: String,
        person: String,
    },
    /// Sessions of `account` ended on the sender: end them on every connection here too.
    SessionsEnded {
        account: u64,
        ended: crate::sessions::Ended,
        why: crate::sessions::Why,
    },
    Alive,
    /// The sender (re)started listening: announce your people again.
    Hello,
    /// The sender is shutting down: its people are gone.
    Bye,
}

impl FromPeer {
    pub fn decode(payload: &str) -> Option<FromPeer> {
        serde_json::from_str(payload).ok()
    }
}

/// The queue to the thread that sends this instance's events, in order.
#[derive(Debug, Clone)]
pub struct Outbox {
    me: u64,
    queue: mpsc::Sender<Job>,
}

#[derive(Debug)]
enum Job {
    Send(PeerEvent),
    /// Answer once everything queued before has been sent.
    Flush(mpsc::SyncSender<()>),
}

impl Outbox {
    /// Starts the sending thread over `outbox` (the hub says `Hello` once it listens).
    pub fn start(me: u64, mut outbox: Box<dyn PeerOutbox>) -> Result<Outbox, StoreError> {
        let (queue, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("peer-outbox".into())
            .spawn(move || {
                loop {
                    let event = match jobs.recv_timeout(HEARTBEAT) {
                        Ok(Job::Send(event)) => event,
                        Ok(Job::Flush(done)) => {
                            let _ = done.send(());
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => PeerEvent::Alive,
                        // The hub is gone.
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    };
                    let payload = serde_json::to_string(&FromPeer { from: me, event })
                        .expect("peer events serialise");
                    if let Err(e) = outbox.send(&payload) {
                        // The others will miss this one; Hello and the heartbeat mend presence.
                        tracing::warn!(error = %e, "telling the other relay instances failed");
                    }
                }
            })
            .map_err(|e| StoreError(format!("starting the peer outbox: {e}")))?;
        Ok(Outbox { me, queue })
    }

    pub fn me(&self) -> u64 {
        self.me
    }

    /// Queues `event` (no system call beyond waking the sender).
    pub fn tell(&self, event: PeerEvent) {
        let _ = self.queue.send(Job::Send(event));
    }

    /// Says `Bye` and waits (at most `wait`) until it has been sent: on shutdown, so that the
    /// others stop counting this instance's people at once rather than after [`PEER_TIMEOUT`].
    pub fn say_bye(&self, wait: Duration) {
        self.tell(PeerEvent::Bye);
        let (done, sent) = mpsc::sync_channel(1);
        if self.queue.send(Job::Flush(done)).is_ok() {
            let _ = sent.recv_timeout(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_ignored() {
        let e = FromPeer {
            from: 7,
            event: PeerEvent::Frame {
                room: "r".into(),
                msg: ServerMessage::Typing {
                    room: "r".into(),
                    who: "a:mina".into(),
                },
            },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(FromPeer::decode(&json), Some(e));
        assert_eq!(FromPeer::decode("{\"from\":1,\"event\":\"nope\"}"), None);
        assert_eq!(FromPeer::decode("not json"), None);
    }
}
