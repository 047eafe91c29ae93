//! Chat messages appended to PostgreSQL: one connection of the hub's writer thread, statements
//! prepared once, each group numbered under per-room advisory locks after what other instances
//! stored, and announced with `NOTIFY` on commit.

use movietalk_protocol::relay::ChatMessage;
use postgres::{Client, NoTls};

use super::{NOTIFY_CHANNEL, PgStore, ROOM_LOCK, SCHEMA_TAG, connection_lost, is_unique_violation};
use crate::store::{AppendError, ChatAppender, ClientKey, StoreError};

impl PgStore {
    /// A new appender on a connection of its own (see [`PgAppender`]).
    pub(super) fn new_appender(
        config: postgres::Config,
    ) -> Result<Box<dyn ChatAppender>, StoreError> {
        Ok(Box::new(PgAppender::new(config)?))
    }
}

/// Appends chat messages on a connection of its own, on the hub's writer thread (a plain
/// thread, outside the runtime, so the client is used directly). Its statements are prepared
/// once per connection, and each is one round trip for the whole group (arrays in, `unnest`).
pub(super) struct PgAppender {
    config: postgres::Config,
    conn: Option<(Client, Statements)>,
}

struct Statements {
    last_seq: postgres::Statement,
    find: postgres::Statement,
    lock: postgres::Statement,
    stored_max: postgres::Statement,
    insert: postgres::Statement,
    notify: postgres::Statement,
}

impl Statements {
    fn prepare(c: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            last_seq: c.prepare("SELECT max(seq) FROM chat_messages WHERE room = $1")?,
            find: c.prepare(
                "SELECT k.i, m.seq
                 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(room, author_key, client_id, i)
                 JOIN chat_messages m
                   ON m.room = k.room AND m.author_key = k.author_key AND m.client_id = k.client_id",
            )?,
            // The rooms come sorted, and unnest keeps their order.
            // In the order of the lock keys, so two writers never wait for each other both
            // ways (two rooms may share a hash).
            lock: c.prepare(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema()) # $1, h)
                 FROM (SELECT DISTINCT hashtext(r) AS h FROM unnest($2::text[]) AS r ORDER BY h) AS keys",
            )?,
            // Per room, so that each max is one step down the primary key's index (a
            // GROUP BY over `room = ANY(…)` reads every message of those rooms).
            stored_max: c.prepare(
                "SELECT r, (SELECT max(seq) FROM chat_messages m WHERE m.room = r) FROM unnest($1::text[]) AS r",
            )?,
            insert: c.prepare(
                "INSERT INTO chat_messages (room, seq, client_id, author, author_key, guest, text, sent_at_ms)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                      $6::boolean[], $7::text[], $8::bigint[])",
            )?,
            notify: c.prepare(
                &format!("SELECT pg_notify($1 || '.' || {SCHEMA_TAG}, p) FROM unnest($2::text[]) AS p"),
            )?,
        })
    }
}

impl PgAppender {
    fn new(config: postgres::Config) -> Result<Self, StoreError> {
        let mut a = PgAppender { config, conn: None };
        a.conn()?;
        Ok(a)
    }

    /// The connection and its statements, connecting again if the server closed it.
    fn conn(&mut self) -> Result<(&mut Client, &Statements), StoreError> {
        if self.conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            self.conn = None;
            let mut client = self.config.connect(NoTls)?;
            let statements = Statements::prepare(&mut client)?;
            self.conn = Some((client, statements));
        }
        let (c, s) = self.conn.as_mut().expect("connected above");
        Ok((c, s))
    }

    /// One attempt; `Err(None)` when the connection turned out lost (nothing was stored
    /// unless the commit landed just before).
    fn try_append(
        &mut self,
        group: &mut [(ChatMessage, String)],
    ) -> Result<(), Option<AppendError>> {
        let (client, st) = self.conn().map_err(|e| Some(e.into()))?;
        let result = Self::append_on(client, st, group);
        result.map_err(|e| {
            if connection_lost(&e) {
                self.conn = None;
                None
            } else if is_unique_violation(&e) {
                Some(AppendError::Taken)
            } else {
                Some(AppendError::Store(e.into()))
            }
        })
    }

    fn append_on(
        client: &mut Client,
        st: &Statements,
        group: &mut [(ChatMessage, String)],
    ) -> Result<(), postgres::Error> {
        let mut tx = client.transaction()?;
        // One writer at a time per room (until commit; see the lock statement for the order);
        // then the group is numbered after what is stored, which no one else can add to until
        // this commits.
        let mut rooms: Vec<&str> = group.iter().map(|(m, _)| m.room.as_str()).collect();
        rooms.sort_unstable();
        rooms.dedup();
        tx.execute(&st.lock, &[&ROOM_LOCK, &rooms])?;
        let mut stored: std::collections::HashMap<String, u64> = tx
            .query(&st.stored_max, &[&rooms])?
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, Option<i64>>(1).unwrap_or(0) as u64,
                )
            })
            .collect();
        crate::store::renumber(group, |room| {
            Ok::<_, postgres::Error>(stored.remove(room).unwrap_or(0))
        })?;
        let column =
            |f: fn(&(ChatMessage, String)) -> &str| -> Vec<&str> { group.iter().map(f).collect() };
        let seqs: Vec<i64> = group.iter().map(|(m, _)| m.seq as i64).collect();
        let guests: Vec<bool> = group.iter().map(|(m, _)| m.guest).collect();
        let times: Vec<i64> = group.iter().map(|(m, _)| m.sent_at_ms as i64).collect();
        tx.execute(
            &st.insert,
            &[
                &column(|(m, _)| &m.room),
                &seqs,
                &column(|(m, _)| &m.client_id),
                &column(|(m, _)| &m.author),
                &column(|(_, k)| k),
                &guests,
                &column(|(m, _)| &m.text),
                &times,
            ],
        )?;
        // Other instances hear of it when (and only if) this commits: each room's newest.
        let mut newest: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for (m, _) in group.iter() {
            newest.insert(m.room.as_str(), m.seq);
        }
        let notes: Vec<String> = newest
            .into_iter()
            .map(|(room, seq)| format!("{seq} {room}"))
            .collect();
        tx.execute(&st.notify, &[&NOTIFY_CHANNEL, &notes])?;
        tx.commit()
    }
}

impl PgAppender {
    /// Runs the read `f`, once more on a new connection if it failed on a closed one.
    fn read<T>(
        &mut self,
        f: impl Fn(&mut Client, &Statements) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let (c, st) = self.conn()?;
        match f(c, st) {
            Err(e) if connection_lost(&e) => {
                self.conn = None;
                let (c, st) = self.conn()?;
                Ok(f(c, st)?)
            }
            other => Ok(other?),
        }
    }
}

impl ChatAppender for PgAppender {
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> =
            self.read(|c, st| Ok(c.query_one(&st.last_seq, &[&room])?.get(0)))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn find_client_id(&mut self, key: ClientKey<'_>) -> Result<Option<u64>, StoreError> {
        Ok(self.find_client_ids(&[key])?[0])
    }

    fn find_client_ids(&mut self, keys: &[ClientKey<'_>]) -> Result<Vec<Option<u64>>, StoreError> {
        let mut found = vec![None; keys.len()];
        if keys.is_empty() {
            return Ok(found);
        }
        let rooms: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let authors: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.2).collect();
        for row in self.read(|c, st| c.query(&st.find, &[&rooms, &authors, &ids]))? {
            let i = row.get::<_, i64>(0) as usize - 1;
            found[i] = Some(row.get::<_, i64>(1) as u64);
        }
        Ok(found)
    }

    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError> {
        match self.try_append(group) {
            // The connection broke (the server restarted, a proxy cut it): once more on a new
            // one. Safe even if the first commit did land: its client ids make this a
            // conflict, which the writer sorts out as resends.
            Err(None) => self.try_append(group).map_err(|e| {
                e.unwrap_or_else(|| {
                    AppendError::Store(StoreError("the database connection was lost twice".into()))
                })
            }),
            Ok(()) => Ok(()),
            Err(Some(e)) => Err(e),
        }
    }
}
