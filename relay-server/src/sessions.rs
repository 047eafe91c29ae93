//! Which connections act for which account and session, so that a session that ends — log-out,
//! revocation, a reused refresh token, a password change, the account's deletion — ends at once
//! on every connection holding it: on this instance here, on the others through the hub's
//! `SessionsEnded` peer event. Such a connection is closed with
//! [`movietalk_protocol::relay::CLOSE_SESSION_ENDED`] and the reason.
//!
//! A connection registers ([`LiveSessions::hold`]) *before* it checks once more that its session
//! is alive, and whoever ends sessions does so *after* the store forgot them: so either the
//! check sees the session gone, or the ending finds the connection — never neither.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::outlet::{ConnId, Mailbox};

/// Which of an account's sessions ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "which", rename_all = "snake_case")]
pub enum Ended {
    /// One session (logged out, revoked, its refresh token reused).
    One { session: u64 },
    /// Every session but `keep` (a password change keeps the one that changed it; an account's
    /// deletion keeps none).
    AllBut { keep: Option<u64> },
}

impl Ended {
    fn covers(self, session: u64) -> bool {
        match self {
            Ended::One { session: s } => s == session,
            Ended::AllBut { keep } => keep != Some(session),
        }
    }
}

/// Why sessions ended: the close frame's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    LoggedOut,
    Revoked,
    RefreshTokenReused,
    PasswordChanged,
    AccountDeleted,
    /// Found gone by the hub's sweep (`crate::hub::Hub::sweep`): ended where this instance did
    /// not hear of it (a notification lost between instances) or run out.
    Ended,
}

impl Why {
    /// The close frame's reason (at most 123 bytes, RFC 6455 §5.5).
    pub fn reason(self) -> &'static str {
        match self {
            Why::LoggedOut => "session ended: logged out",
            Why::Revoked => "session ended: revoked",
            Why::RefreshTokenReused => "session ended: its refresh token was used twice",
            Why::PasswordChanged => "session ended: the password was changed",
            Why::AccountDeleted => "session ended: the account was deleted",
            Why::Ended => "session ended",
        }
    }
}

/// A connection acting for an account.
#[derive(Debug)]
struct Holder {
    /// The session it logged in with: what [`Ended`] is matched against.
    session: u64,
    /// How to end it from here.
    mailbox: Mailbox,
}

/// The connections of every logged-in account on this instance.
#[derive(Debug, Default)]
pub struct LiveSessions {
    /// Account id → its connections. An account leaves the map with its last connection, so
    /// the map is as large as the number of logged-in connections, no larger.
    by_account: Mutex<HashMap<u64, HashMap<ConnId, Holder>>>,
}

impl LiveSessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, HashMap<ConnId, Holder>>> {
        self.by_account.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `conn` now acts for `account` within `session` (replacing what it held before).
    pub fn hold(&self, account: u64, session: u64, conn: ConnId, mailbox: Mailbox) {
        self.map()
            .entry(account)
            .or_default()
            .insert(conn, Holder { session, mailbox });
    }

    /// `conn` no longer acts for `account` (logged out, switched account, closed).
    pub fn release(&self, account: u64, conn: ConnId) {
        let mut map = self.map();
        if let Some(conns) = map.get_mut(&account) {
            conns.remove(&conn);
            if conns.is_empty() {
                map.remove(&account);
            }
        }
    }

    /// Ends `which` of `account`'s sessions on every connection here but `except` (the one that
    /// asked, which carries on as a guest or in the session it kept), closing them with `why`.
    /// Returns how many connections were ended.
    pub fn end(&self, account: u64, which: Ended, except: Option<ConnId>, why: Why) -> usize {
        let mut map = self.map();
        let Some(conns) = map.get_mut(&account) else {
            return 0;
        };
        let before = conns.len();
        conns.retain(|conn, holder| {
            if Some(*conn) == except || !which.covers(holder.session) {
                return true;
            }
            holder.mailbox.end_session(why.reason());
            false
        });
        let ended = before - conns.len();
        if conns.is_empty() {
            map.remove(&account);
        }
        ended
    }

    /// Every (account, connection, session) held here.
    pub fn holders(&self) -> Vec<(u64, ConnId, u64)> {
        self.map()
            .iter()
            .flat_map(|(account, conns)| conns.iter().map(|(conn, h)| (*account, *conn, h.session)))
            .collect()
    }

    /// Logged-in connections on this instance.
    pub fn len(&self) -> usize {
        self.map().values().map(HashMap::len).sum()
    }

    /// True when no connection here is logged in.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn mailbox() -> Mailbox {
        Mailbox::new(None, 4, CancellationToken::new()).0
    }

    #[test]
    fn ending_reaches_the_sessions_named_and_no_other() {
        let live = LiveSessions::default();
        let (a1, a2, a3, b) = (mailbox(), mailbox(), mailbox(), mailbox());
        live.hold(1, 10, 100, a1.clone());
        live.hold(1, 11, 101, a2.clone());
        live.hold(1, 11, 102, a3.clone());
        live.hold(2, 20, 200, b.clone());

        assert_eq!(
            live.end(1, Ended::One { session: 11 }, Some(102), Why::Revoked),
            1
        );
        assert_eq!(a2.session_ended(), Some(Why::Revoked.reason()));
        assert!(a2.ends().is_cancelled());
        assert!(a1.session_ended().is_none() && a3.session_ended().is_none());

        assert_eq!(
            live.end(
                1,
                Ended::AllBut { keep: Some(11) },
                None,
                Why::PasswordChanged
            ),
            1
        );
        assert_eq!(a1.session_ended(), Some(Why::PasswordChanged.reason()));
        assert!(a3.session_ended().is_none(), "the kept session carries on");

        assert_eq!(
            live.end(1, Ended::AllBut { keep: None }, None, Why::AccountDeleted),
            1
        );
        assert_eq!(a3.session_ended(), Some(Why::AccountDeleted.reason()));
        assert!(b.session_ended().is_none(), "another account is untouched");
        assert_eq!(live.len(), 1);
        live.release(2, 200);
        assert!(live.is_empty());
    }
}
