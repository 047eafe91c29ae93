//! This user's watchlist: kept here (table `watchlist`), changed offline, and shared through
//! the outbox like reviews. Each sync then takes the relay's copy — what this account's other
//! machines did — into it (`crate::sync`).
//!
//! **Rule:** of two changes of one film made on two machines while offline, the later one wins
//! (the relay decides, by when each change was made); a change still waiting here is never
//! overwritten by a pull. Whether the watchlist is public lives on the relay and is mirrored
//! here (`sync_state` `watchlist_public`).

use movietalk_protocol::relay::{ClientMessage, WatchlistFilm};
use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{CoreError, Result};
use crate::outbox::{
    OutboxOp, WATCHLIST_PUBLIC_SUBJECT, WATCHLIST_SUBJECT, enqueue, has_pending, now_ms, state_get,
    state_set, waiting_under,
};

/// The `sync_state` names this module keeps.
const VERSION: &str = "watchlist_version";
const PUBLIC: &str = "watchlist_public";

impl Catalog {
    /// Puts a film on the watchlist (`on`) or takes it off, here at once and on the relay
    /// through the outbox. The film must be in the catalog to be put on. Answers whether
    /// anything changed.
    pub fn set_watchlist(&mut self, movie_key: &str, on: bool) -> Result<bool> {
        let listed = self.on_watchlist(movie_key)?;
        if listed == on {
            return Ok(false);
        }
        let (title, year) = if on {
            let movie = self.get(movie_key)?.ok_or_else(|| {
                CoreError::InvalidInput(format!("no movie with key {movie_key:?}"))
            })?;
            (movie.title, movie.year)
        } else {
            self.conn.query_row(
                "SELECT title, year FROM watchlist WHERE movie_key = ?1",
                [movie_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
        };
        // Strictly after the newest addition here, so the list keeps the order of its adds.
        let newest: Option<i64> =
            self.conn
                .query_row("SELECT max(added_at_ms) FROM watchlist", [], |r| r.get(0))?;
        let at_ms = now_ms().max(newest.map_or(0, |t| t as u64 + 1));
        let tx = self.conn.transaction()?;
        if on {
            tx.execute(
                "INSERT INTO watchlist (movie_key, title, year, added_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![movie_key, title, year, at_ms as i64],
            )?;
        } else {
            tx.execute("DELETE FROM watchlist WHERE movie_key = ?1", [movie_key])?;
        }
        let op = OutboxOp::Watchlist {
            movie_key: movie_key.to_owned(),
            title,
            year,
            on,
            at_ms,
        };
        enqueue(&tx, &op)?;
        tx.commit()?;
        Ok(true)
    }

    /// Whether the film is on the watchlist.
    pub fn on_watchlist(&self, movie_key: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM watchlist WHERE movie_key = ?1)",
            [movie_key],
            |r| r.get(0),
        )?)
    }

    /// The keys of the films on the watchlist.
    pub fn watchlist_keys(&self) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT movie_key FROM watchlist")?;
        let keys = stmt.query_map([], |r| r.get(0))?;
        Ok(keys.collect::<rusqlite::Result<_>>()?)
    }

    /// The watchlist, newest addition first.
    pub fn watchlist(&self) -> Result<Vec<WatchlistFilm>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT movie_key, title, year, added_at_ms FROM watchlist
             ORDER BY added_at_ms DESC, movie_key",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(WatchlistFilm {
                movie_key: r.get(0)?,
                title: r.get(1)?,
                year: r.get(2)?,
                added_at_ms: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether others may read the watchlist (as last set here or pulled).
    pub fn watchlist_public(&self) -> Result<bool> {
        Ok(state_get(&self.conn, PUBLIC)?.as_deref() == Some("true"))
    }

    /// Lets others read the watchlist, or stops them (on the relay through the outbox).
    pub fn set_watchlist_public(&mut self, public: bool) -> Result<()> {
        let tx = self.conn.transaction()?;
        state_set(&tx, PUBLIC, &public.to_string())?;
        enqueue(&tx, &OutboxOp::WatchlistPublic { public })?;
        tx.commit()?;
        Ok(())
    }

    /// The relay's watchlist version this copy has taken in; `None` before the first pull.
    pub(crate) fn watchlist_version(&self) -> Result<Option<u64>> {
        Ok(state_get(&self.conn, VERSION)?.and_then(|v| v.parse().ok()))
    }

    /// Takes the relay's watchlist (at `version`) as this one, but for films (and the public
    /// setting) whose change here is still waiting to be sent.
    pub(crate) fn take_watchlist(
        &mut self,
        version: u64,
        public: bool,
        films: &[WatchlistFilm],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let waiting = waiting_under(&tx, WATCHLIST_SUBJECT)?;
        tx.execute(
            "DELETE FROM watchlist WHERE movie_key NOT IN (SELECT value FROM json_each(?1))",
            [serde_json::to_string(&waiting).expect("keys serialise")],
        )?;
        for f in films.iter().filter(|f| !waiting.contains(&f.movie_key)) {
            tx.execute(
                "INSERT OR REPLACE INTO watchlist (movie_key, title, year, added_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![f.movie_key, f.title, f.year, f.added_at_ms as i64],
            )?;
        }
        if !has_pending(&tx, WATCHLIST_PUBLIC_SUBJECT)? {
            state_set(&tx, PUBLIC, &public.to_string())?;
        }
        state_set(&tx, VERSION, &version.to_string())?;
        tx.commit()?;
        Ok(())
    }
}

/// The message that delivers a watchlist entry of the outbox.
pub(crate) fn delivery(op: OutboxOp) -> Option<ClientMessage> {
    match op {
        OutboxOp::Watchlist {
            movie_key,
            title,
            year,
            on,
            at_ms,
        } => Some(ClientMessage::SetWatchlist {
            movie_key,
            title,
            year,
            on,
            at_ms: Some(at_ms),
        }),
        OutboxOp::WatchlistPublic { public } => Some(ClientMessage::WatchlistPublic { public }),
        _ => None,
    }
}

/// Makes the next sync take the relay's whole watchlist again: after a change the relay
/// refused, or when another account logs in here.
pub(crate) fn forget_version(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sync_state WHERE name = ?1", [VERSION])?;
    Ok(())
}

/// Which of `n` films ranked best first to pick, given `roll` in `0..1`: one of the first
/// three, the first half the time, the second a third, the third a sixth (with fewer films,
/// the same weights over those there are). `None` when there is none.
pub fn favoured(n: usize, roll: f64) -> Option<usize> {
    const WEIGHTS: [f64; 3] = [3.0, 2.0, 1.0];
    let weights = &WEIGHTS[..n.min(WEIGHTS.len())];
    let total: f64 = weights.iter().sum();
    let mut at = roll.clamp(0.0, 1.0) * total;
    for (i, w) in weights.iter().enumerate() {
        if at < *w {
            return Some(i);
        }
        at -= w;
    }
    weights.len().checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::favoured;

    #[test]
    fn the_pick_favours_the_top_of_the_ranking() {
        assert_eq!(favoured(0, 0.3), None);
        assert_eq!(favoured(1, 0.99), Some(0));
        // 3 : 2 : 1 over the first three, whatever follows them.
        let picks = |n: usize| {
            let mut count = [0; 3];
            for i in 0..600 {
                count[favoured(n, (i as f64 + 0.5) / 600.0).unwrap()] += 1;
            }
            count
        };
        assert_eq!(picks(3), [300, 200, 100]);
        assert_eq!(picks(40), [300, 200, 100]);
        // Two films: 3 : 2.
        assert_eq!(picks(2), [360, 240, 0]);
        assert_eq!(favoured(5, 1.0), Some(2));
    }
}
