//! The chat rules, written once over the rows of any store ([`Transact`]) and what only the
//! store gives ([`ChatBackend`]): [`ChatStore`] for SQLite and PostgreSQL alike.

use std::time::{SystemTime, UNIX_EPOCH};

use movietalk_protocol::relay::ChatMessage;

use super::rows::{Access, Take, Transact};
use super::{
    ChatAppender, ChatBackend, ChatStore, Elsewhere, PeerOutbox, RoomRecord, StoreError,
    StoreResult,
};

impl<S: Transact + ChatBackend> ChatStore for S {
    fn appender(&self) -> StoreResult<Box<dyn ChatAppender>> {
        ChatBackend::appender(self)
    }

    fn range(
        &self,
        room: &str,
        after: u64,
        before: u64,
        limit: usize,
    ) -> StoreResult<Vec<ChatMessage>> {
        let mut newest_first = self.rows(Access::Plain, |rows| {
            rows.messages(room, [after, before], Take::Newest(limit))
        })?;
        newest_first.reverse();
        Ok(newest_first)
    }

    fn range_forward(&self, room: &str, after: u64, limit: usize) -> StoreResult<Vec<ChatMessage>> {
        self.rows(Access::Plain, |rows| {
            rows.messages(room, [after, u64::MAX], Take::Oldest(limit))
        })
    }

    fn ranges(&self, wanted: &[(String, u64, u64)], limit: usize) -> StoreResult<Vec<ChatMessage>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        self.rows(Access::Plain, |rows| rows.ranges(wanted, limit))
    }

    fn create_room(&self, name: &str, topic: &str, creator: u64) -> StoreResult<bool> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.rows(Access::TxOnce, |rows| {
            // The name is claimed first: one joined before, or created by another writer
            // meanwhile, cannot be created.
            if !rows.claim_room(name)? {
                return Ok(false);
            }
            rows.insert_room(name, topic, creator, now)?;
            Ok(true)
        })
    }

    fn claim_room(&self, name: &str) -> StoreResult<()> {
        self.rows(Access::Plain, |rows| rows.claim_room(name).map(drop))
    }

    fn room(&self, name: &str) -> StoreResult<Option<RoomRecord>> {
        self.rows(Access::Plain, |rows| rows.room(name))
    }

    fn rooms(&self) -> StoreResult<Vec<(String, String, Option<String>)>> {
        self.rows(Access::Plain, |rows| rows.rooms())
    }

    fn ban(&self, room: &str, handle: &str) -> StoreResult<Option<u64>> {
        self.rows(Access::Tx, |rows| {
            // The account may not be deleted by another writer before the ban is stored.
            let id = rows.lock_account_id(handle)?;
            if let Some(id) = id {
                rows.insert_ban(room, id)?;
            }
            Ok(id)
        })
    }

    fn is_banned(&self, room: &str, account: u64) -> StoreResult<bool> {
        self.rows(Access::Plain, |rows| rows.is_banned(room, account))
    }

    fn bans_of(&self, accounts: &[u64]) -> StoreResult<Vec<(String, u64)>> {
        self.rows(Access::Plain, |rows| rows.bans_of(accounts))
    }

    fn message_author(&self, room: &str, seq: u64) -> StoreResult<Option<String>> {
        self.rows(Access::Plain, |rows| rows.message_author(room, seq))
    }

    fn delete_message(&self, room: &str, seq: u64) -> StoreResult<()> {
        self.rows(Access::Plain, |rows| rows.blank_message(room, seq))
    }

    fn mark_read(&self, account: u64, room: &str, seq: u64) -> StoreResult<()> {
        self.rows(Access::Plain, |rows| rows.mark_read(account, room, seq))
    }

    fn unread(&self, account: u64) -> StoreResult<Vec<(String, u64)>> {
        self.rows(Access::Plain, |rows| rows.unread(account))
    }

    fn watch_other_writers(
        &self,
        tell: Box<dyn FnMut(Elsewhere) -> bool + Send>,
    ) -> Result<(), StoreError> {
        ChatBackend::watch_other_writers(self, tell)
    }

    fn check(&self) -> StoreResult<()> {
        ChatBackend::check(self)
    }

    fn peer_outbox(&self) -> StoreResult<Option<Box<dyn PeerOutbox>>> {
        ChatBackend::peer_outbox(self)
    }
}
