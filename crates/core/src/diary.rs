//! This user's diary: each watch of a film, with its day, an optional rating and review, and
//! whether it was a rewatch. Kept here (table `diary`), changed offline, shared through the
//! outbox, and taken from the relay's copy by each sync (`crate::sync`), like the watchlist.
//!
//! **Ratings stay one per film:** a watch logged with a rating (or a review) writes the film's
//! review when it is the film's most recent watch here; an older watch keeps its own rating in
//! the diary only. A review written with a watch marks the entry (`review`).

use movietalk_protocol::relay::{ClientMessage, DiaryEntry, validate_date};
use rusqlite::{OptionalExtension, params};

use crate::catalog::Catalog;
use crate::error::{CoreError, Result};
use crate::outbox::{
    DIARY_SUBJECT, OutboxOp, enqueue, now_ms, state_get, state_set, waiting_under,
};
use crate::recommend::valid_stars;

/// The `sync_state` name of the relay's diary version taken in.
const VERSION: &str = "diary_version";

/// A watch as the user logs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewWatch {
    pub movie_key: String,
    /// `YYYY-MM-DD`, not after today.
    pub watched_on: String,
    pub rating: Option<f32>,
    pub rewatch: bool,
    /// A review written with this watch (it needs a rating, here or from before).
    pub review: Option<String>,
    pub spoiler: bool,
    /// The entry's id when the caller has one (an import: the same row, the same id); a
    /// watch whose id is in the diary already is not logged again.
    pub client_id: Option<String>,
}

const COLUMNS: &str =
    "client_id, movie_key, title, year, watched_on, rating, rewatch, review, edited_at_ms";

fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<DiaryEntry> {
    Ok(DiaryEntry {
        client_id: r.get(0)?,
        movie_key: r.get(1)?,
        title: r.get(2)?,
        year: r.get(3)?,
        watched_on: r.get(4)?,
        rating: r.get::<_, Option<f64>>(5)?.map(|x| x as f32),
        rewatch: r.get(6)?,
        review: r.get(7)?,
        edited_at_ms: r.get::<_, i64>(8)? as u64,
    })
}

fn put_entry(conn: &rusqlite::Connection, e: &DiaryEntry) -> rusqlite::Result<()> {
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO diary ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            e.client_id,
            e.movie_key,
            e.title,
            e.year,
            e.watched_on,
            e.rating.map(f64::from),
            e.rewatch,
            e.review,
            e.edited_at_ms as i64
        ],
    )?;
    Ok(())
}

impl Catalog {
    /// Logs a watch here at once (and on the relay through the outbox). The film must be in
    /// the catalog. When it is the film's most recent watch, its rating and review become the
    /// film's (`save_review`).
    pub fn log_watch(&mut self, w: &NewWatch) -> Result<DiaryEntry> {
        if let Some(id) = &w.client_id
            && let Some(logged) = self.diary_entry(id)?
        {
            return Ok(logged);
        }
        let invalid = |m: String| CoreError::InvalidInput(m);
        validate_date("watched_on", &w.watched_on).map_err(|e| invalid(e.to_string()))?;
        // Tomorrow is allowed: another time zone's today.
        let latest: String =
            self.conn
                .query_row("SELECT date('now', 'localtime', '+1 day')", [], |r| {
                    r.get(0)
                })?;
        if w.watched_on > latest {
            return Err(invalid(format!("{} is in the future", w.watched_on)));
        }
        if let Some(r) = w.rating
            && !valid_stars(r)
        {
            return Err(invalid(format!(
                "{r} is not a rating: use half stars from 0.5 to 5"
            )));
        }
        let movie = self
            .get(&w.movie_key)?
            .ok_or_else(|| invalid(format!("no movie with key {:?}", w.movie_key)))?;
        let review = w.review.as_deref().map(str::trim).filter(|b| !b.is_empty());
        let previous = self.my_review(&w.movie_key)?;
        let rating = w.rating.or(previous.as_ref().map(|p| p.rating));
        if review.is_some() && rating.is_none() {
            return Err(invalid("a review needs a rating".into()));
        }
        let entry = DiaryEntry {
            client_id: w
                .client_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            movie_key: movie.key.clone(),
            title: movie.title.clone(),
            year: movie.year,
            watched_on: w.watched_on.clone(),
            rating: w.rating,
            rewatch: w.rewatch,
            review: review.is_some(),
            edited_at_ms: now_ms(),
        };
        let newest: Option<String> = self.conn.query_row(
            "SELECT max(watched_on) FROM diary WHERE movie_key = ?1",
            [&entry.movie_key],
            |r| r.get(0),
        )?;
        let tx = self.conn.transaction()?;
        put_entry(&tx, &entry)?;
        enqueue(
            &tx,
            &OutboxOp::PutDiaryEntry {
                entry: entry.clone(),
            },
        )?;
        tx.commit()?;
        // The film's rating and review follow its most recent watch.
        let latest_watch = newest.is_none_or(|n| entry.watched_on >= n);
        if latest_watch && (w.rating.is_some() || review.is_some()) {
            let body = review
                .map(str::to_owned)
                .or(previous.as_ref().map(|p| p.body.clone()));
            let stars = rating.expect("checked above");
            self.save_review(
                &entry.movie_key,
                stars,
                body.as_deref().unwrap_or(""),
                w.spoiler,
            )?;
        }
        Ok(entry)
    }

    /// Deletes a watch from the diary (the film's rating and review stay); false when there
    /// was none.
    pub fn delete_watch(&mut self, client_id: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        if tx.execute("DELETE FROM diary WHERE client_id = ?1", [client_id])? == 0 {
            return Ok(false);
        }
        let op = OutboxOp::DeleteDiaryEntry {
            client_id: client_id.to_owned(),
            at_ms: now_ms(),
        };
        enqueue(&tx, &op)?;
        tx.commit()?;
        Ok(true)
    }

    /// Today here (local time), `YYYY-MM-DD`: the day a watch is logged on by default.
    pub fn today(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT date('now', 'localtime')", [], |r| r.get(0))?)
    }

    /// The diary, most recent watch first.
    pub fn diary(&self) -> Result<Vec<DiaryEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM diary ORDER BY watched_on DESC, edited_at_ms DESC, client_id"
        ))?;
        let rows = stmt.query_map([], row_to_entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One entry of the diary.
    pub fn diary_entry(&self, client_id: &str) -> Result<Option<DiaryEntry>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM diary WHERE client_id = ?1"),
                [client_id],
                row_to_entry,
            )
            .optional()?)
    }

    /// The relay's diary version this copy has taken in; `None` before the first pull.
    pub(crate) fn diary_version(&self) -> Result<Option<u64>> {
        Ok(state_get(&self.conn, VERSION)?.and_then(|v| v.parse().ok()))
    }

    /// Takes the relay's diary (at `version`) as this one, but for entries whose change here
    /// is still waiting to be sent.
    pub(crate) fn take_diary(&mut self, version: u64, entries: &[DiaryEntry]) -> Result<()> {
        let tx = self.conn.transaction()?;
        let waiting = waiting_under(&tx, DIARY_SUBJECT)?;
        tx.execute(
            "DELETE FROM diary WHERE client_id NOT IN (SELECT value FROM json_each(?1))",
            [serde_json::to_string(&waiting).expect("ids serialise")],
        )?;
        for e in entries.iter().filter(|e| !waiting.contains(&e.client_id)) {
            put_entry(&tx, e)?;
        }
        state_set(&tx, VERSION, &version.to_string())?;
        tx.commit()?;
        Ok(())
    }
}

/// The message that delivers a diary entry of the outbox.
pub(crate) fn delivery(op: OutboxOp) -> Option<ClientMessage> {
    match op {
        OutboxOp::PutDiaryEntry { entry } => Some(ClientMessage::PutDiaryEntry { entry }),
        OutboxOp::DeleteDiaryEntry { client_id, at_ms } => Some(ClientMessage::DeleteDiaryEntry {
            client_id,
            at_ms: Some(at_ms),
        }),
        _ => None,
    }
}

/// Makes the next sync take the relay's whole diary again: after a change the relay refused,
/// or when another account logs in here.
pub(crate) fn forget_version(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sync_state WHERE name = ?1", [VERSION])?;
    Ok(())
}
