//! Who a connection is: its `Session` (name, guest key, account, session, rooms), and how that
//! changes — log-in, log-out, a session that ends — with the live-session registry, bans and
//! presence kept in step.

use std::collections::HashSet;

use movietalk_protocol::relay::{Account, ServerMessage};

use super::answers::{account_error, session_ended};
use super::handler::Handler;
use crate::accounts::{AccountError, AccountStore, LiveSession, NewSession, SessionParams};
use crate::bucket::Bucket;
use crate::hub::{ConnId, Mailbox};
use crate::store::author_key;

impl Handler {
    /// Takes a write token: an account's are shared by all its connections; a guest's are its
    /// connection's and its address's (so opening more connections buys no more).
    pub(super) fn may_write(&self, session: &mut Session) -> bool {
        let c = &self.config;
        match &session.account {
            Some(account) => self
                .hub
                .take_write_token(account.id, c.writes_per_sec, c.write_burst),
            None => {
                session.writes.take()
                    && self.hub.take_address_token(
                        self.peer.ip(),
                        c.address_writes_per_sec,
                        c.address_write_burst,
                    )
            }
        }
    }

    /// What a session opened on this connection is stamped with.
    pub(super) fn params<'a>(&self, session: &'a Session) -> SessionParams<'a> {
        SessionParams {
            now_ms: self.config.clock.now_ms(),
            lifetimes: self.config.token_lifetimes,
            client: &session.client,
        }
    }

    /// [`Handler::params`] to move to another thread.
    pub(super) fn owned_params(&self, session: &Session) -> OwnedParams {
        OwnedParams {
            now_ms: self.config.clock.now_ms(),
            lifetimes: self.config.token_lifetimes,
            client: session.client.clone(),
        }
    }

    /// Runs an account call that hashes or verifies a password (argon2id: deliberately slow)
    /// off the async workers, at most one per core at once ([`crate::hashing::Hashing`]); past
    /// its queue the answer is [`AccountError::Busy`] at once, so a log-in storm costs neither
    /// memory nor the other connections' time.
    pub(super) async fn hashing_call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn AccountStore) -> Result<T, AccountError> + Send + 'static,
    ) -> Result<T, AccountError> {
        let accounts = self.accounts.clone();
        self.hashing
            .run(move || call(&*accounts))
            .await
            .unwrap_or(Err(AccountError::Busy))
    }

    /// Makes `account` this connection's identity within `live`; `Some` refusal to answer when
    /// the session ended meanwhile or the store failed.
    fn enter(
        &self,
        req: u64,
        session: &mut Session,
        account: &Account,
        live: LiveSession,
    ) -> Option<ServerMessage> {
        session.session_id = Some(live.session_id);
        session.access_expires_at_ms = live.access_expires_at_ms;
        match self.switch_identity(session, Some(account.clone())) {
            Ok(true) => None,
            Ok(false) => Some(session_ended(req)),
            Err(e) => Some(account_error(req, e)),
        }
    }

    /// Makes `account` this connection's identity with a new session and answers with its tokens.
    pub(super) fn started(
        &self,
        req: u64,
        session: &mut Session,
        account: Account,
        new: NewSession,
    ) -> ServerMessage {
        let live = LiveSession {
            session_id: new.session_id,
            access_expires_at_ms: new.access_expires_at_ms,
        };
        if let Some(refused) = self.enter(req, session, &account, live) {
            return refused;
        }
        ServerMessage::Session {
            req,
            account,
            session_id: new.session_id,
            token: Some(new.access_token),
            expires_at_ms: new.access_expires_at_ms,
            refresh_token: Some(new.refresh_token),
            refresh_expires_at_ms: Some(new.refresh_expires_at_ms),
        }
    }

    /// Makes `account` this connection's identity within an existing session (no new tokens).
    pub(super) fn resumed(
        &self,
        req: u64,
        session: &mut Session,
        account: Account,
        live: LiveSession,
    ) -> ServerMessage {
        if let Some(refused) = self.enter(req, session, &account, live) {
            return refused;
        }
        ServerMessage::Session {
            req,
            account,
            session_id: live.session_id,
            token: None,
            expires_at_ms: live.access_expires_at_ms,
            refresh_token: None,
            refresh_expires_at_ms: None,
        }
    }

    /// Changes who this connection is (`account` within `session.session_id`, or a guest):
    /// registers it with the live sessions so that an ending reaches it, takes it out of the
    /// rooms whose moderator banned the new account (telling it `kicked`), and moves its other
    /// memberships (and so presence) along. `Ok(false)`: the session ended before the
    /// connection was registered, and the connection is a guest.
    pub(super) fn switch_identity(
        &self,
        session: &mut Session,
        account: Option<Account>,
    ) -> Result<bool, AccountError> {
        if let Some(old) = session.account.take() {
            self.hub.sessions().release(old.id, session.conn);
        }
        let mut outcome = Ok(true);
        if let (Some(account), Some(id)) = (account, session.session_id) {
            // Register first, then look: an ending from now on finds this connection, and one
            // that came before shows here as a session the store no longer has.
            let live = self.hub.sessions();
            live.hold(account.id, id, session.conn, session.mailbox.clone());
            match self.accounts.session_alive(id, self.config.clock.now_ms()) {
                Ok(true) => session.account = Some(account),
                Ok(false) => {
                    live.release(account.id, session.conn);
                    outcome = Ok(false);
                }
                Err(e) => {
                    live.release(account.id, session.conn);
                    outcome = Err(e);
                }
            }
        }
        if session.account.is_none() {
            session.session_id = None;
            session.access_expires_at_ms = 0;
        }
        // The memberships take the new identity first, then the bans are read: a kick stored
        // meanwhile either shows here or finds the membership under its new name.
        let key = session.key();
        for room in &session.rooms {
            self.hub.rename_member(room, session.conn, &key);
        }
        if let Some(account) = &session.account {
            let mut banned = Vec::new();
            for room in &session.rooms {
                match self.chat.is_banned(room, account.id) {
                    Ok(true) => banned.push(room.clone()),
                    Ok(false) => {}
                    Err(e) => {
                        // Unknown whether it may stay: it is a guest again, wholly.
                        self.become_guest(session);
                        return Err(e.into());
                    }
                }
            }
            for room in banned {
                // Kept in `session.rooms`, so the room forgets the kick when this connection ends.
                self.hub.kick_conn(&room, session.conn);
            }
        }
        outcome
    }

    /// Makes this connection a guest (its session ended, or it logged out).
    pub(super) fn become_guest(&self, session: &mut Session) {
        // Becoming a guest reads nothing from the store: it cannot fail.
        let _ = self.switch_identity(session, None);
    }
}

/// [`SessionParams`] that own their client name.
pub(super) struct OwnedParams {
    now_ms: u64,
    lifetimes: crate::accounts::Lifetimes,
    client: String,
}

impl OwnedParams {
    pub(super) fn params(&self) -> SessionParams<'_> {
        SessionParams {
            now_ms: self.now_ms,
            lifetimes: self.lifetimes,
            client: &self.client,
        }
    }
}

/// What the relay knows about a connection after `hello`.
pub(super) struct Session {
    pub(super) conn: ConnId,
    /// Who this connection is as a guest ([`author_key`] scoped to the connection, unique
    /// across relay instances and restarts): two guests of the same name are two people, and
    /// one's client ids never collide with the other's.
    pub(super) guest_key: String,
    /// The display name from `hello`; `None` until then.
    pub(super) name: Option<String>,
    /// What the client called itself in `hello`, for the session list.
    pub(super) client: String,
    /// The logged-in account, if any.
    pub(super) account: Option<Account>,
    /// The session this connection is logged in with (revoked by `log_out`).
    pub(super) session_id: Option<u64>,
    /// When the access token this connection logged in with runs out (relay clock); after that
    /// it must refresh before acting for the account again.
    pub(super) access_expires_at_ms: u64,
    pub(super) rooms: HashSet<String>,
    /// This connection's mailbox: where the hub and [`crate::sessions`] reach it.
    pub(super) mailbox: Mailbox,
    /// Writes this connection may make as a guest (an account's are counted per account).
    pub(super) writes: Bucket,
}

impl Session {
    /// Who writes: the account's handle, or the guest's name.
    pub(super) fn author(&self, guest_name: &str) -> (String, bool) {
        match &self.account {
            Some(a) => (a.handle.clone(), false),
            None => (guest_name.to_owned(), true),
        }
    }

    /// Who this connection is for idempotency and presence ([`author_key`]).
    pub(super) fn key(&self) -> String {
        match &self.account {
            Some(a) => author_key(&a.handle, false),
            None => self.guest_key.clone(),
        }
    }
}

/// A random number chosen once per process: guests' keys carry it, so connection numbers, which
/// start again at 1 with every relay process, never make two guests one.
pub(super) fn instance_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        u64::from_le_bytes(bytes)
    })
}
