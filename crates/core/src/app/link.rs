//! The link to the relay. [`App::run_link`] keeps it for the life of a desktop app: it connects
//! (backing off 1 s, 2 s, 4 s … up to 30 s while the relay is unreachable), logs in with the
//! session kept in the OS keyring, rejoins the chat rooms that are open from the last message
//! seen, and syncs — right away, after every local write, and every [`SYNC_EVERY`] while online.
//! A command-line run does the same once: [`App::connect`], then [`App::sync_once`].

use std::time::Duration;

use movietalk_protocol::ipc::{Account, Presence, RelayStatus, SyncStatus};
use tokio::sync::mpsc::Receiver;

use super::{
    App, AppEvent, Connection, REFRESH_SECRET, Reply, Rooms, SESSION_SECRET, lock, offline,
};
use crate::relay_client::{ClientError, LoggedIn, RelayClient, RelayEvent};
use crate::sync::{SyncError, SyncProgress, SyncReport};

/// How often an online app pulls and pushes without being asked.
pub const SYNC_EVERY: Duration = Duration::from_secs(15);
/// Longest wait between two connection attempts.
const MAX_BACKOFF_SECS: u32 = 30;

impl App {
    /// Keeps the link for the life of the app (spawn it once).
    pub async fn run_link(&self) {
        let mut backoff = 1u32;
        loop {
            match self.connect_and_forward().await {
                Ok(ended) => {
                    backoff = 1;
                    let reason = self.keep_in_sync(ended).await;
                    *self.connection.lock().await = None;
                    self.set_status(|s| s.relay = RelayStatus::Offline { reason });
                }
                Err(e) => {
                    self.set_status(|s| {
                        s.relay = RelayStatus::Reconnecting {
                            reason: e.message,
                            in_secs: backoff,
                        }
                    });
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(backoff.into())) => {}
                        () = self.wake.notified() => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF_SECS);
                }
            }
        }
    }

    /// Connects once: logs in with the kept session (a guest when there is none or it ended)
    /// and resumes the open rooms. Events flow to the sink until the connection ends.
    pub async fn connect(&self) -> Reply<()> {
        let ended = self.connect_and_forward().await?;
        // Nobody waits for the end here: the forwarder clears the connection itself.
        drop(ended);
        Ok(())
    }

    /// Syncs now over the open connection: pulls what changed, delivers the outbox, and learns
    /// the names of new authors.
    pub async fn sync_once(&self) -> Reply<SyncReport> {
        self.sync_once_with(&|_| {}).await
    }

    /// [`App::sync_once`], telling `progress` how far it is.
    pub async fn sync_once_with(
        &self,
        progress: &(dyn Fn(SyncProgress) + Sync),
    ) -> Reply<SyncReport> {
        let c = self.connection.lock().await.clone().ok_or_else(offline)?;
        let me = c.account.map(|a| a.handle);
        let outcome = crate::sync::sync(&self.catalog, &c.client, me.as_deref(), progress).await;
        let learned = self.learn_authors(&c.client).await;
        let changed = match &outcome {
            Ok(r) => r.pulled + r.sent + r.failed + r.superseded > 0 || r.model.is_some(),
            // Part of it may have been done before it stopped.
            Err(_) => true,
        };
        let error = outcome.as_ref().err().map(ToString::to_string);
        self.set_status(|s| {
            s.last_sync_ms = Some(crate::sync::now_ms());
            s.changes += u64::from(changed || learned);
            s.error = error;
        });
        outcome.map_err(super::sync_error)
    }

    /// Syncs (or reconnects) now instead of at the next tick.
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// The relay connection and the outbox.
    pub fn sync_status(&self) -> SyncStatus {
        let mut s = lock(&self.status).clone();
        s.pending = self.catalog().pending_writes().unwrap_or(s.pending);
        s
    }

    /// Updates the status and tells the front end.
    fn set_status(&self, change: impl FnOnce(&mut SyncStatus)) {
        let status = {
            let mut s = lock(&self.status);
            change(&mut s);
            s.pending = self.catalog().pending_writes().unwrap_or(s.pending);
            s.clone()
        };
        self.emit(AppEvent::RelayStatus(status.relay.clone()));
        self.emit(AppEvent::Sync(status));
    }

    /// The open connection, if there is one.
    pub(super) async fn connected(&self) -> Option<Connection> {
        self.connection.lock().await.clone()
    }

    /// Connects, logs in, resumes rooms and starts forwarding events; the receiver tells why the
    /// connection ended.
    async fn connect_and_forward(&self) -> Reply<tokio::sync::oneshot::Receiver<String>> {
        self.set_status(|s| s.relay = RelayStatus::Connecting);
        let url = self.relay_url().await?;
        let (client, events) = RelayClient::connect(&url, &self.user_name)
            .await
            .map_err(super::relay_error)?;
        let account = self.restore_session(&client).await;
        if let Some(a) = &account {
            let _ = self.catalog().set_sync_account(&a.handle);
        }
        self.set_known_account(account.clone());
        *self.connection.lock().await = Some(Connection {
            client: client.clone(),
            account,
        });
        self.set_status(|s| s.relay = RelayStatus::Online);
        self.resume_rooms(&client).await;
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        let events_sink = self.events.clone();
        let rooms = self.rooms.clone();
        tokio::spawn(async move {
            let _ = ended_tx.send(forward_events(&events_sink, &rooms, events).await);
        });
        Ok(ended)
    }

    /// Syncs now, after every write and every [`SYNC_EVERY`], until the connection ends; answers
    /// why it ended.
    async fn keep_in_sync(&self, mut ended: tokio::sync::oneshot::Receiver<String>) -> String {
        loop {
            if let Err(e) = self.sync_once().await {
                tracing::debug!(error = %e, "sync stopped early");
            }
            tokio::select! {
                () = tokio::time::sleep(SYNC_EVERY) => {}
                () = self.wake.notified() => {}
                reason = &mut ended => {
                    return reason.unwrap_or_else(|_| "the connection ended".to_owned())
                }
            }
        }
    }

    /// Resumes every open room from the last message seen: no gap, no duplicate.
    async fn resume_rooms(&self, client: &RelayClient) {
        let rooms: Vec<(String, u64)> = lock(&self.rooms)
            .iter()
            .map(|(r, s)| (r.clone(), *s))
            .collect();
        for (room, since) in rooms {
            match client.join(&room, Some(since)).await {
                Ok(joined) => {
                    for m in joined.history {
                        note_seen(&self.rooms, &m.room, m.seq);
                        self.emit(AppEvent::ChatMessage(m));
                    }
                    self.emit(AppEvent::Presence(Presence {
                        room: joined.room,
                        present: joined.present,
                    }));
                }
                Err(e) => tracing::warn!(%room, error = %e, "cannot rejoin"),
            }
        }
    }

    /// Asks the relay for the profiles (names and pictures) of up to 20 authors of cached reviews
    /// and comments this app has not seen yet; true when it learned any.
    async fn learn_authors(&self, client: &RelayClient) -> bool {
        let Ok(handles) = self.catalog().authors_without_profile(20) else {
            return false;
        };
        let mut learned = false;
        for handle in handles {
            match crate::people::fetch_profile(&self.catalog, client, &handle).await {
                Ok(found) => learned |= found.is_some(),
                Err(SyncError::Local(e)) => tracing::warn!(error = %e, "cannot keep a profile"),
                Err(e) => {
                    tracing::debug!(error = %e, "profiles left for the next sync");
                    return learned;
                }
            }
        }
        learned
    }

    /// Logs a new connection in with the session kept in the keyring: the access token, or when
    /// that has run out, the refresh token (whose successor is stored before it is used). A
    /// session the relay has ended is forgotten; a relay that cannot answer leaves it for the
    /// next try.
    async fn restore_session(&self, client: &RelayClient) -> Option<Account> {
        let read = |name| match self.secrets.get(name) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the session from the keyring");
                None
            }
        };
        if let Some(token) = read(SESSION_SECRET) {
            match client.authenticate(&token).await {
                Ok(session) => return Some(session.account),
                Err(ClientError::Rejected { .. }) => {
                    tracing::info!("the saved access token has run out; refreshing")
                }
                Err(e) => {
                    tracing::info!(error = %e, "cannot log in now");
                    return None;
                }
            }
        }
        let refresh = read(REFRESH_SECRET)?;
        match client.refresh(&refresh).await {
            Ok(logged) => {
                self.store_session(&logged);
                Some(logged.account)
            }
            Err(e @ ClientError::Rejected { .. }) => {
                tracing::info!(error = %e, "the saved session has ended: log in again");
                self.forget_session();
                None
            }
            Err(e) => {
                tracing::info!(error = %e, "cannot refresh the session now");
                None
            }
        }
    }

    /// Keeps a new session's tokens in the keyring (in memory where there is none).
    pub(super) fn store_session(&self, logged: &LoggedIn) {
        for (name, value) in [
            (SESSION_SECRET, &logged.token),
            (REFRESH_SECRET, &logged.refresh_token),
        ] {
            if let Some(v) = value
                && let Err(e) = self.secrets.set(name, v)
            {
                tracing::warn!(error = %e, "the session is kept for this run only");
            }
        }
        self.set_known_account(Some(logged.account.clone()));
    }

    /// Forgets the session: its tokens and who it was.
    pub(super) fn forget_session(&self) {
        let _ = self.secrets.delete(SESSION_SECRET);
        let _ = self.secrets.delete(REFRESH_SECRET);
        self.set_known_account(None);
    }

    /// Remembers who is logged in (or, with `None`, that nobody is).
    pub(super) fn set_known_account(&self, account: Option<Account>) {
        *lock(&self.known_account) = account;
    }
}

/// Forwards pushed events to the sink until the connection ends; answers why it ended.
async fn forward_events(
    sink: &super::EventSink,
    rooms: &Rooms,
    mut events: Receiver<RelayEvent>,
) -> String {
    while let Some(event) = events.recv().await {
        sink(match event {
            RelayEvent::Message(m) => {
                note_seen(rooms, &m.room, m.seq);
                AppEvent::ChatMessage(m)
            }
            RelayEvent::Presence { room, present } => {
                AppEvent::Presence(Presence { room, present })
            }
            RelayEvent::Typing { room, who } => {
                AppEvent::Typing(movietalk_protocol::ipc::Typing { room, who })
            }
            RelayEvent::MessageDeleted { room, seq } => {
                AppEvent::MessageDeleted(movietalk_protocol::ipc::MessageDeleted { room, seq })
            }
            RelayEvent::Kicked { room } => {
                lock(rooms).remove(&room);
                AppEvent::Presence(Presence { room, present: 0 })
            }
            RelayEvent::Disconnected { reason } => return reason,
        });
    }
    "the connection ended".to_owned()
}

/// Remembers the newest message seen in an open room.
pub(super) fn note_seen(rooms: &Rooms, room: &str, seq: u64) {
    if let Some(last) = lock(rooms).get_mut(room) {
        *last = (*last).max(seq);
    }
}
