//! Chat rows in PostgreSQL.

use movietalk_protocol::relay::ChatMessage;

use super::rows::{PgRows, pg_ids, u};
use crate::store::rows::{ChatRows, RoomSpan, Take};
use crate::store::{MESSAGE_COLUMNS, RoomRecord, StoreResult, stored_seq};

fn row_to_message(r: &postgres::Row) -> ChatMessage {
    ChatMessage {
        room: r.get(0),
        seq: u(r, 1),
        client_id: r.get(2),
        author: r.get(3),
        guest: r.get(4),
        text: r.get(5),
        sent_at_ms: u(r, 6),
        deleted: r.get(7),
    }
}

impl ChatRows for PgRows<'_, '_> {
    fn messages(&mut self, room: &str, span: [u64; 2], n: Take) -> StoreResult<Vec<ChatMessage>> {
        let (order, limit) = n.order_and_limit();
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE room = $1 AND seq > $2 AND seq < $3 ORDER BY seq {order} LIMIT $4"
        );
        let [after, before] = span.map(stored_seq);
        let rows = self.all(&sql, &[&room, &after, &before, &limit])?;
        Ok(rows.iter().map(row_to_message).collect())
    }

    /// All rooms in one query.
    fn ranges(&mut self, wanted: &[RoomSpan], limit: usize) -> StoreResult<Vec<ChatMessage>> {
        let rooms: Vec<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
        let afters: Vec<i64> = wanted.iter().map(|w| stored_seq(w.1)).collect();
        let uptos: Vec<i64> = wanted.iter().map(|w| stored_seq(w.2)).collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.all(
            "SELECT m.room, m.seq, m.client_id, m.author, m.guest, m.text, m.sent_at_ms, m.deleted
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS w(room, after, upto, i)
             CROSS JOIN LATERAL (
                 SELECT * FROM chat_messages m
                 WHERE m.room = w.room AND m.seq > w.after AND m.seq <= w.upto
                 ORDER BY m.seq LIMIT $4
             ) m
             ORDER BY w.i, m.seq",
            &[&rooms, &afters, &uptos, &limit],
        )?;
        Ok(rows.iter().map(row_to_message).collect())
    }

    fn claim_room(&mut self, name: &str) -> StoreResult<bool> {
        let sql = "INSERT INTO room_names (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
        Ok(self.exec(sql, &[&name])? > 0)
    }

    fn insert_room(&mut self, name: &str, topic: &str, creator: u64, at: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO rooms (name, topic, creator_id, created_at_ms) VALUES ($1, $2, $3, $4)",
            &[&name, &topic, &(creator as i64), &(at as i64)],
        )?;
        Ok(())
    }

    fn room(&mut self, name: &str) -> StoreResult<Option<RoomRecord>> {
        let row = self.opt(
            "SELECT r.topic, a.id, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id
             WHERE r.name = $1",
            &[&name],
        )?;
        Ok(row.map(|r| {
            let id: Option<i64> = r.get(1);
            let handle: Option<String> = r.get(2);
            (r.get(0), id.zip(handle).map(|(i, h)| (i as u64, h)))
        }))
    }

    fn rooms(&mut self) -> StoreResult<Vec<(String, String, Option<String>)>> {
        let rows = self.all(
            "SELECT r.name, r.topic, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id
             ORDER BY r.name COLLATE \"C\"",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn insert_ban(&mut self, room: &str, account: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO room_bans (room, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&room, &(account as i64)],
        )?;
        Ok(())
    }

    fn is_banned(&mut self, room: &str, account: u64) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM room_bans WHERE room = $1 AND account_id = $2";
        Ok(self.opt(sql, &[&room, &(account as i64)])?.is_some())
    }

    fn bans_of(&mut self, accounts: &[u64]) -> StoreResult<Vec<(String, u64)>> {
        let sql = "SELECT room, account_id FROM room_bans WHERE account_id = ANY($1)";
        let rows = self.all(sql, &[&pg_ids(accounts)])?;
        Ok(rows.iter().map(|r| (r.get(0), u(r, 1))).collect())
    }

    fn message_author(&mut self, room: &str, seq: u64) -> StoreResult<Option<String>> {
        let sql =
            "SELECT author_key FROM chat_messages WHERE room = $1 AND seq = $2 AND NOT deleted";
        Ok(self.opt(sql, &[&room, &stored_seq(seq)])?.map(|r| r.get(0)))
    }

    fn blank_message(&mut self, room: &str, seq: u64) -> StoreResult<()> {
        let sql = "UPDATE chat_messages SET text = '', deleted = TRUE WHERE room = $1 AND seq = $2";
        self.exec(sql, &[&room, &stored_seq(seq)])?;
        Ok(())
    }

    fn mark_read(&mut self, account: u64, room: &str, seq: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO room_reads (account_id, room, seq) VALUES ($1, $2, $3)
             ON CONFLICT (account_id, room) DO UPDATE SET seq = GREATEST(room_reads.seq, excluded.seq)",
            &[&(account as i64), &room, &stored_seq(seq)],
        )?;
        Ok(())
    }

    fn unread(&mut self, account: u64) -> StoreResult<Vec<(String, u64)>> {
        let rows = self.all(
            "SELECT rr.room, coalesce((SELECT max(seq) FROM chat_messages m WHERE m.room = rr.room), 0) - rr.seq
             FROM room_reads rr WHERE rr.account_id = $1 ORDER BY rr.room COLLATE \"C\"",
            &[&(account as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }
}
