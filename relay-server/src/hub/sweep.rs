//! The hub's sweep: every so often, what live connections hold is checked against the store —
//! sessions that are gone end, accounts banned from a room they are in are kicked — so an ending
//! or a kick that this instance never heard of (a notification lost between instances while a
//! listener reconnected), or a refresh token that ran out, takes effect within one interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use super::Hub;
use crate::accounts::AccountStore;
use crate::clock::Clock;
use crate::sessions::{Ended, Why};

/// (account, connection, session), as [`crate::sessions::LiveSessions::holders`] lists them.
type Holder = (u64, u64, u64);

/// Keeps [`Hub::sweep`] going; dropping it stops the sweep at once.
#[derive(Debug)]
pub struct SweepGuard {
    /// Dropped with the guard: the sweep's wait ends at once and it stops.
    _stop: std::sync::mpsc::Sender<()>,
}

impl Hub {
    /// Sweeps every `every` on a thread of its own until the guard is dropped (or the hub is).
    pub fn sweep(
        self: &Arc<Self>,
        accounts: Arc<dyn AccountStore>,
        clock: Arc<dyn Clock>,
        every: Duration,
    ) -> std::io::Result<SweepGuard> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let hub = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("session-sweep".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let Some(hub) = hub.upgrade() else { return };
                    let holders = hub.sessions().holders();
                    if holders.is_empty() {
                        continue;
                    }
                    hub.end_gone_sessions(&holders, &*accounts, clock.now_ms());
                    hub.kick_banned_members(&holders);
                }
            })?;
        Ok(SweepGuard { _stop: stop })
    }

    /// Ends the sessions held here that the store no longer has (or whose refresh token ran out).
    fn end_gone_sessions(&self, holders: &[Holder], accounts: &dyn AccountStore, now_ms: u64) {
        let held: HashSet<(u64, u64)> = holders.iter().map(|&(a, _, s)| (a, s)).collect();
        let ids: Vec<u64> = held.iter().map(|&(_, s)| s).collect();
        match accounts.sessions_alive(&ids, now_ms) {
            Ok(alive) => {
                for (account, session) in held {
                    if !alive.contains(&session) {
                        self.sessions()
                            .end(account, Ended::One { session }, None, Why::Ended);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "checking the live sessions failed"),
        }
    }

    /// Kicks every logged-in connection out of the rooms its account is banned from.
    fn kick_banned_members(&self, holders: &[Holder]) {
        let mut conns: HashMap<u64, Vec<u64>> = HashMap::new();
        for &(account, conn, _) in holders {
            conns.entry(account).or_default().push(conn);
        }
        let accounts: Vec<u64> = conns.keys().copied().collect();
        let bans = match self.store.bans_of(&accounts) {
            Ok(bans) => bans,
            Err(e) => {
                tracing::warn!(error = %e, "checking the room bans failed");
                return;
            }
        };
        let mut done = HashSet::new();
        for (room, account) in bans {
            for &conn in conns.get(&account).into_iter().flatten() {
                if done.insert((room.clone(), conn)) && self.is_member(&room, conn) {
                    self.kick_conn(&room, conn);
                }
            }
        }
    }
}
