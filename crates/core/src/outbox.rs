//! The outbox — this user's writes waiting for the relay, each with a client-chosen id and a
//! subject (a later write about the same subject replaces a waiting earlier one) — and the
//! small named values sync keeps beside it (`sync_state`). Written to by every kind of local
//! write (`crate::sync`, `crate::watchlist`); delivered by `crate::sync`.

use std::time::{SystemTime, UNIX_EPOCH};

use movietalk_protocol::relay::LikeTarget;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// The subject of a watchlist write: this, then the film's key.
pub(crate) const WATCHLIST_SUBJECT: &str = "watchlist:";
/// The subject of the watchlist's public setting.
pub(crate) const WATCHLIST_PUBLIC_SUBJECT: &str = "watchlist-public";
/// The subject of a diary entry's writes: this, then the entry's client id.
pub(crate) const DIARY_SUBJECT: &str = "diary:";

/// A write waiting for the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OutboxOp {
    PutReview {
        movie_key: String,
        title: String,
        year: Option<i32>,
        rating: f32,
        body: String,
        spoiler: bool,
        edited_at_ms: u64,
    },
    /// `remote_id` when the relay's id was known at the time; else found at delivery.
    DeleteReview {
        movie_key: String,
        remote_id: Option<u64>,
    },
    PostComment {
        review_id: u64,
        body: String,
    },
    EditComment {
        comment_id: u64,
        body: String,
    },
    DeleteComment {
        comment_id: u64,
    },
    Like {
        target: LikeTarget,
        on: bool,
    },
    /// A film put on the watchlist or taken off, at `at_ms`.
    Watchlist {
        movie_key: String,
        title: String,
        year: Option<i32>,
        on: bool,
        at_ms: u64,
    },
    /// Whether others may read the watchlist.
    WatchlistPublic {
        public: bool,
    },
    /// A diary entry as logged or edited.
    PutDiaryEntry {
        entry: movietalk_protocol::relay::DiaryEntry,
    },
    /// A diary entry deleted at `at_ms`.
    DeleteDiaryEntry {
        client_id: String,
        at_ms: u64,
    },
}

impl OutboxOp {
    /// What the write is about: later writes about the same thing replace pending earlier ones.
    pub(crate) fn subject(&self) -> String {
        match self {
            OutboxOp::PutReview { movie_key, .. } | OutboxOp::DeleteReview { movie_key, .. } => {
                format!("review:{movie_key}")
            }
            OutboxOp::PostComment { .. } => format!("new-comment:{}", uuid::Uuid::new_v4()),
            OutboxOp::EditComment { comment_id, .. } | OutboxOp::DeleteComment { comment_id } => {
                format!("comment:{comment_id}")
            }
            OutboxOp::Like { target, .. } => format!("like:{}", like_key(*target)),
            OutboxOp::Watchlist { movie_key, .. } => format!("{WATCHLIST_SUBJECT}{movie_key}"),
            OutboxOp::WatchlistPublic { .. } => WATCHLIST_PUBLIC_SUBJECT.to_owned(),
            OutboxOp::PutDiaryEntry { entry } => format!("{DIARY_SUBJECT}{}", entry.client_id),
            OutboxOp::DeleteDiaryEntry { client_id, .. } => format!("{DIARY_SUBJECT}{client_id}"),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn like_key(target: LikeTarget) -> String {
    match target {
        LikeTarget::Review(id) => format!("review:{id}"),
        LikeTarget::Comment(id) => format!("comment:{id}"),
    }
}

pub(crate) fn enqueue(tx: &Transaction<'_>, op: &OutboxOp) -> Result<String> {
    let subject = op.subject();
    // A later write about the same thing replaces one still waiting: only the latest state travels.
    tx.execute("UPDATE outbox SET state = 'superseded', done_at_ms = ?2 WHERE subject = ?1 AND state = 'pending'", params![
        subject,
        now_ms() as i64
    ])?;
    let client_id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO outbox (client_id, op, subject, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![
            client_id,
            serde_json::to_string(op).expect("outbox ops serialise"),
            subject,
            now_ms() as i64
        ],
    )?;
    Ok(client_id)
}

/// True when a write about `subject` is still waiting for the relay.
pub(crate) fn has_pending(tx: &Transaction<'_>, subject: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE subject = ?1 AND state = 'pending')",
        [subject],
        |r| r.get(0),
    )
}

pub(crate) fn state_get(
    conn: &rusqlite::Connection,
    name: &str,
) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM sync_state WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .optional()
}

pub(crate) fn state_set(
    conn: &rusqlite::Connection,
    name: &str,
    value: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO sync_state (name, value) VALUES (?1, ?2)",
        [name, value],
    )?;
    Ok(())
}

/// What follows `prefix` in the subjects of the writes still waiting that start with it: the
/// films (`watchlist:`) or diary entries (`diary:`) whose change here has not reached the
/// relay, which a pull must not overwrite.
pub(crate) fn waiting_under(tx: &Transaction<'_>, prefix: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(
        "SELECT substr(subject, length(?1) + 1) FROM outbox
         WHERE state = 'pending' AND substr(subject, 1, length(?1)) = ?1",
    )?;
    let found = stmt.query_map([prefix], |r| r.get(0))?;
    found.collect()
}
