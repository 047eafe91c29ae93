//! Chat rows in SQLite, and what only the SQLite store gives the chat: its appender, on a
//! connection of its own.

use std::sync::{Arc, Mutex};

use movietalk_protocol::relay::ChatMessage;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteRows, json_ids};
use crate::store::rows::{ChatRows, Take};
use crate::store::{
    AppendError, ChatAppender, ChatBackend, ClientKey, MESSAGE_COLUMNS, RoomRecord, SqliteStore,
    StoreError, StoreResult, renumber, stored_seq,
};

impl ChatRows for SqliteRows<'_> {
    fn messages(&mut self, room: &str, span: [u64; 2], n: Take) -> StoreResult<Vec<ChatMessage>> {
        let (order, limit) = n.order_and_limit();
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq {order} LIMIT ?4"
        );
        let [after, before] = span.map(stored_seq);
        self.all(&sql, params![room, after, before, limit], |r| {
            Ok(ChatMessage {
                room: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                client_id: r.get(2)?,
                author: r.get(3)?,
                guest: r.get(4)?,
                text: r.get(5)?,
                sent_at_ms: r.get::<_, i64>(6)? as u64,
                deleted: r.get(7)?,
            })
        })
    }

    fn claim_room(&mut self, name: &str) -> StoreResult<bool> {
        let sql = "INSERT INTO room_names (name) VALUES (?1) ON CONFLICT(name) DO NOTHING";
        Ok(self.exec(sql, [name])? > 0)
    }

    fn insert_room(&mut self, name: &str, topic: &str, creator: u64, at: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO rooms (name, topic, creator_id, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, topic, creator as i64, at as i64],
        )?;
        Ok(())
    }

    fn room(&mut self, name: &str) -> StoreResult<Option<RoomRecord>> {
        let found = self.opt(
            "SELECT r.topic, a.id, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id WHERE r.name = ?1",
            [name],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<String>>(2)?)),
        )?;
        Ok(found.map(|(topic, id, handle)| (topic, id.zip(handle).map(|(i, h)| (i as u64, h)))))
    }

    fn rooms(&mut self) -> StoreResult<Vec<(String, String, Option<String>)>> {
        self.all(
            "SELECT r.name, r.topic, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id ORDER BY r.name",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    fn insert_ban(&mut self, room: &str, account: u64) -> StoreResult<()> {
        let sql = "INSERT OR IGNORE INTO room_bans (room, account_id) VALUES (?1, ?2)";
        self.exec(sql, params![room, account as i64])?;
        Ok(())
    }

    fn is_banned(&mut self, room: &str, account: u64) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM room_bans WHERE room = ?1 AND account_id = ?2";
        Ok(self
            .opt(sql, params![room, account as i64], |_| Ok(()))?
            .is_some())
    }

    fn bans_of(&mut self, accounts: &[u64]) -> StoreResult<Vec<(String, u64)>> {
        self.all(
            "SELECT room, account_id FROM room_bans
             WHERE account_id IN (SELECT value FROM json_each(?1))",
            [json_ids(accounts)],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
        )
    }

    fn message_author(&mut self, room: &str, seq: u64) -> StoreResult<Option<String>> {
        let sql =
            "SELECT author_key FROM chat_messages WHERE room = ?1 AND seq = ?2 AND deleted = 0";
        self.opt(sql, params![room, seq as i64], |r| r.get(0))
    }

    fn blank_message(&mut self, room: &str, seq: u64) -> StoreResult<()> {
        let sql = "UPDATE chat_messages SET text = '', deleted = 1 WHERE room = ?1 AND seq = ?2";
        self.exec(sql, params![room, seq as i64])?;
        Ok(())
    }

    fn mark_read(&mut self, account: u64, room: &str, seq: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO room_reads (account_id, room, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT(account_id, room) DO UPDATE SET seq = max(seq, excluded.seq)",
            params![account as i64, room, seq as i64],
        )?;
        Ok(())
    }

    fn unread(&mut self, account: u64) -> StoreResult<Vec<(String, u64)>> {
        self.all(
            "SELECT rr.room, coalesce((SELECT max(seq) FROM chat_messages m WHERE m.room = rr.room), 0) - rr.seq
             FROM room_reads rr WHERE rr.account_id = ?1 ORDER BY rr.room",
            [account as i64],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)),
        )
    }
}

impl ChatBackend for SqliteStore {
    fn appender(&self) -> Result<Box<dyn ChatAppender>, StoreError> {
        let conn = match &self.path {
            Some(path) => {
                let conn = Connection::open(path)?;
                Self::configure(&conn, self.synchronous)?;
                Arc::new(Mutex::new(conn))
            }
            None => self.conn.clone(),
        };
        Ok(Box::new(SqliteAppender { conn }))
    }

    fn check(&self) -> Result<(), StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM chat_messages WHERE 0", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Appends chat messages on its own connection (or the in-memory store's only one).
struct SqliteAppender {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteAppender {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChatAppender for SqliteAppender {
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        let seq: Option<i64> = conn
            .prepare_cached("SELECT max(seq) FROM chat_messages WHERE room = ?1")?
            .query_row([room], |r| r.get(0))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn find_client_id(&mut self, key: ClientKey<'_>) -> Result<Option<u64>, StoreError> {
        let (room, author_key, client_id) = key;
        let conn = self.conn();
        let seq: Option<i64> = conn
            .prepare_cached("SELECT seq FROM chat_messages WHERE room = ?1 AND author_key = ?2 AND client_id = ?3")?
            .query_row(params![room, author_key, client_id], |r| r.get(0))
            .optional()?;
        Ok(seq.map(|s| s as u64))
    }

    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError> {
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock now rather than upgrade later (no SQLITE_BUSY
        // half-way through the group when the other connection writes). Under it no other
        // writer can store a number, so the group is numbered for good here.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut last =
                tx.prepare_cached("SELECT max(seq) FROM chat_messages WHERE room = ?1")?;
            renumber(group, |room| {
                Ok::<_, rusqlite::Error>(
                    last.query_row([room], |r| r.get::<_, Option<i64>>(0))?
                        .unwrap_or(0) as u64,
                )
            })?;
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO chat_messages (room, seq, client_id, author, author_key, guest, text, sent_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (m, author_key) in group.iter() {
                insert.execute(params![
                    m.room,
                    m.seq as i64,
                    m.client_id,
                    m.author,
                    author_key,
                    m.guest,
                    m.text,
                    m.sent_at_ms as i64
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
