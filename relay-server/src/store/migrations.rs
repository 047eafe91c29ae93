//! The SQLite store's schema, as versioned migrations (`rusqlite_migration`).

/// The relay's schema, oldest first. Never edit a released migration: append a new one.
pub(crate) fn migrations() -> rusqlite_migration::Migrations<'static> {
    use rusqlite_migration::M;
    rusqlite_migration::Migrations::new(vec![
        M::up(
            "CREATE TABLE chat_messages (
             room       TEXT NOT NULL,
             seq        INTEGER NOT NULL,
             client_id  TEXT NOT NULL,
             author     TEXT NOT NULL,
             -- Who, for idempotency: 'a:<handle>' for accounts, 'g:<name>' for guests.
             author_key TEXT NOT NULL,
             guest      INTEGER NOT NULL,
             text       TEXT NOT NULL,
             sent_at_ms INTEGER NOT NULL,
             PRIMARY KEY (room, seq)
         ) STRICT, WITHOUT ROWID;
         CREATE UNIQUE INDEX chat_messages_client ON chat_messages(room, author_key, client_id);
         CREATE INDEX chat_messages_author ON chat_messages(author_key);
         CREATE TABLE accounts (
             id            INTEGER PRIMARY KEY,
             handle        TEXT NOT NULL UNIQUE,
             display_name  TEXT NOT NULL,
             bio           TEXT NOT NULL DEFAULT '',
             avatar_url    TEXT,
             password_hash TEXT NOT NULL,
             created_at_ms INTEGER NOT NULL
         ) STRICT;
         CREATE TABLE sessions (
             token_hash    TEXT PRIMARY KEY,
             account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
             created_at_ms INTEGER NOT NULL,
             expires_at_ms INTEGER NOT NULL
         ) STRICT, WITHOUT ROWID;
         CREATE INDEX sessions_account ON sessions(account_id);",
        ),
        M::up(
            "CREATE TABLE reviews (
                 id            INTEGER PRIMARY KEY,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 movie_key     TEXT NOT NULL,
                 title         TEXT NOT NULL,
                 year          INTEGER,
                 rating        REAL NOT NULL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = round(rating * 2)),
                 body          TEXT NOT NULL,
                 spoiler       INTEGER NOT NULL,
                 client_id     TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, movie_key)
             ) STRICT;
             CREATE INDEX reviews_film ON reviews(movie_key, id);
             CREATE TABLE comments (
                 id            INTEGER PRIMARY KEY,
                 review_id     INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client_id     TEXT NOT NULL,
                 body          TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, client_id)
             ) STRICT;
             CREATE INDEX comments_review ON comments(review_id, id);
             CREATE TABLE likes (
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 kind       TEXT NOT NULL CHECK (kind IN ('review', 'comment')),
                 target_id  INTEGER NOT NULL,
                 PRIMARY KEY (account_id, kind, target_id)
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX likes_target ON likes(kind, target_id);
             -- Every change to reviews and comments, numbered: clients pull after their cursor.
             CREATE TABLE changes (
                 seq     INTEGER PRIMARY KEY AUTOINCREMENT,
                 payload TEXT NOT NULL
             ) STRICT;",
        ),
        M::up(
            "CREATE TABLE follows (
                 follower_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 followed_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 PRIMARY KEY (follower_id, followed_id)
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX reviews_account ON reviews(account_id, id);",
        ),
        M::up(
            "ALTER TABLE chat_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE rooms (
                 name          TEXT PRIMARY KEY,
                 topic         TEXT NOT NULL,
                 creator_id    INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
                 created_at_ms INTEGER NOT NULL
             ) STRICT;
             CREATE TABLE room_bans (
                 room       TEXT NOT NULL,
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 PRIMARY KEY (room, account_id)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE room_reads (
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 room       TEXT NOT NULL,
                 seq        INTEGER NOT NULL,
                 PRIMARY KEY (account_id, room)
             ) STRICT, WITHOUT ROWID;",
        ),
        // Sessions with a short-lived access token and a rotating refresh token (see
        // accounts/), and provider identities linked to accounts. A session token of the
        // earlier schema becomes its session's refresh token: the client trades it with
        // `refresh` and carries on.
        M::up(
            "CREATE TABLE auth_sessions (
                 id                    INTEGER PRIMARY KEY,
                 account_id            INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client                TEXT NOT NULL,
                 method                TEXT NOT NULL,
                 created_at_ms         INTEGER NOT NULL,
                 last_used_at_ms       INTEGER NOT NULL,
                 access_hash           TEXT UNIQUE,
                 access_expires_at_ms  INTEGER NOT NULL,
                 refresh_hash          TEXT NOT NULL UNIQUE,
                 refresh_expires_at_ms INTEGER NOT NULL
             ) STRICT;
             CREATE INDEX auth_sessions_account ON auth_sessions(account_id);
             -- Refresh tokens already traded, kept while their session lives: presenting one
             -- again revokes the session.
             CREATE TABLE spent_refresh_tokens (
                 token_hash TEXT PRIMARY KEY,
                 session_id INTEGER NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX spent_refresh_tokens_session ON spent_refresh_tokens(session_id);
             INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
                 SELECT account_id, 'earlier version', 'password', created_at_ms, created_at_ms, NULL, 0,
                        token_hash, expires_at_ms
                 FROM sessions;
             DROP TABLE sessions;
             -- (provider name in the relay's configuration, the provider's stable subject id).
             CREATE TABLE provider_links (
                 provider     TEXT NOT NULL,
                 subject      TEXT NOT NULL,
                 account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 linked_at_ms INTEGER NOT NULL,
                 PRIMARY KEY (provider, subject),
                 UNIQUE (account_id, provider)
             ) STRICT, WITHOUT ROWID;",
        ),
        // Ids are never used twice: a connection or a cached copy that still holds a deleted
        // account's, session's, review's or comment's id must never come to mean someone
        // else's. (Without AUTOINCREMENT SQLite hands out the largest id again once its row is
        // gone.) The tables are rebuilt as SQLite prescribes: foreign keys are off while the
        // migrations run (`SqliteStore::init`) and checked after this one.
        // And every room name ever joined or created is remembered: such a name can no longer
        // be created (taken over) by anyone.
        M::up(
            "CREATE TABLE accounts_new (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 handle        TEXT NOT NULL UNIQUE,
                 display_name  TEXT NOT NULL,
                 bio           TEXT NOT NULL DEFAULT '',
                 avatar_url    TEXT,
                 password_hash TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL
             ) STRICT;
             INSERT INTO accounts_new SELECT id, handle, display_name, bio, avatar_url, password_hash, created_at_ms FROM accounts;
             DROP TABLE accounts;
             ALTER TABLE accounts_new RENAME TO accounts;

             CREATE TABLE auth_sessions_new (
                 id                    INTEGER PRIMARY KEY AUTOINCREMENT,
                 account_id            INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client                TEXT NOT NULL,
                 method                TEXT NOT NULL,
                 created_at_ms         INTEGER NOT NULL,
                 last_used_at_ms       INTEGER NOT NULL,
                 access_hash           TEXT UNIQUE,
                 access_expires_at_ms  INTEGER NOT NULL,
                 refresh_hash          TEXT NOT NULL UNIQUE,
                 refresh_expires_at_ms INTEGER NOT NULL
             ) STRICT;
             INSERT INTO auth_sessions_new SELECT id, account_id, client, method, created_at_ms, last_used_at_ms,
                 access_hash, access_expires_at_ms, refresh_hash, refresh_expires_at_ms FROM auth_sessions;
             DROP TABLE auth_sessions;
             ALTER TABLE auth_sessions_new RENAME TO auth_sessions;
             CREATE INDEX auth_sessions_account ON auth_sessions(account_id);

             CREATE TABLE reviews_new (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 movie_key     TEXT NOT NULL,
                 title         TEXT NOT NULL,
                 year          INTEGER,
                 rating        REAL NOT NULL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = round(rating * 2)),
                 body          TEXT NOT NULL,
                 spoiler       INTEGER NOT NULL,
                 client_id     TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, movie_key)
             ) STRICT;
             INSERT INTO reviews_new SELECT id, account_id, movie_key, title, year, rating, body, spoiler, client_id,
                 created_at_ms, updated_at_ms FROM reviews;
             DROP TABLE reviews;
             ALTER TABLE reviews_new RENAME TO reviews;
             CREATE INDEX reviews_film ON reviews(movie_key, id);
             CREATE INDEX reviews_account ON reviews(account_id, id);

             CREATE TABLE comments_new (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 review_id     INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client_id     TEXT NOT NULL,
                 body          TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, client_id)
             ) STRICT;
             INSERT INTO comments_new SELECT id, review_id, account_id, client_id, body, created_at_ms, updated_at_ms FROM comments;
             DROP TABLE comments;
             ALTER TABLE comments_new RENAME TO comments;
             CREATE INDEX comments_review ON comments(review_id, id);

             CREATE TABLE room_names (name TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
             INSERT OR IGNORE INTO room_names SELECT DISTINCT room FROM chat_messages;
             INSERT OR IGNORE INTO room_names SELECT name FROM rooms;
             INSERT OR IGNORE INTO room_names SELECT DISTINCT room FROM room_reads;
             -- Read marks past 2^63 wrapped to negative numbers (they are now clamped).
             UPDATE room_reads SET seq = 0 WHERE seq < 0;
             -- Review and comment ids whose rows were deleted before this upgrade live on in the
             -- change log (clients copied them) and in likes: new ids start after them.
             INSERT INTO sqlite_sequence (name, seq) SELECT 'reviews', 0
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'reviews');
             INSERT INTO sqlite_sequence (name, seq) SELECT 'comments', 0
                 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'comments');
             UPDATE sqlite_sequence SET seq = max(seq,
                 coalesce((SELECT max(max(coalesce(json_extract(payload, '$.review_id'), 0),
                                          coalesce(json_extract(payload, '$.review.id'), 0),
                                          coalesce(json_extract(payload, '$.comment.review_id'), 0)))
                           FROM changes), 0),
                 coalesce((SELECT max(target_id) FROM likes WHERE kind = 'review'), 0))
                 WHERE name = 'reviews';
             UPDATE sqlite_sequence SET seq = max(seq,
                 coalesce((SELECT max(max(coalesce(json_extract(payload, '$.comment_id'), 0),
                                          coalesce(json_extract(payload, '$.comment.id'), 0)))
                           FROM changes), 0),
                 coalesce((SELECT max(target_id) FROM likes WHERE kind = 'comment'), 0))
                 WHERE name = 'comments';",
        )
        .foreign_key_check(),
        // Everyone's ratings beside the reviews' (imported with `relay-server import-ratings`,
        // by accounts that cannot log in), and the community model built from both.
        M::up(
            "CREATE TABLE imported_raters (
                 source     TEXT PRIMARY KEY,
                 account_id INTEGER NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE ratings (
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 movie_key  TEXT NOT NULL,
                 stars      REAL NOT NULL CHECK (stars BETWEEN 0.5 AND 5.0 AND stars * 2 = round(stars * 2)),
                 PRIMARY KEY (account_id, movie_key)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE community_models (
                 version     INTEGER PRIMARY KEY,
                 built_at_ms INTEGER NOT NULL,
                 watermark   INTEGER NOT NULL,
                 data        BLOB NOT NULL
             ) STRICT;
             CREATE TABLE rating_log (id INTEGER PRIMARY KEY CHECK (id = 1), writes INTEGER NOT NULL) STRICT;
             INSERT INTO rating_log (id, writes) VALUES (1, 0);",
        ),
        // Watchlists: each account's settings and version, and its films (`listed = 0`: taken
        // off, kept so that an older change arriving later loses).
        M::up(
            "CREATE TABLE watchlist_meta (
                 account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
                 public     INTEGER NOT NULL,
                 version    INTEGER NOT NULL
             ) STRICT;
             CREATE TABLE watchlist (
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 movie_key  TEXT NOT NULL,
                 title      TEXT NOT NULL,
                 year       INTEGER,
                 listed     INTEGER NOT NULL,
                 at_ms      INTEGER NOT NULL,
                 added_at_ms INTEGER NOT NULL,
                 PRIMARY KEY (account_id, movie_key)
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX watchlist_order ON watchlist(account_id, listed, added_at_ms);",
        ),
        // Diaries: each account's version, and its entries (`deleted = 1`: kept so that an
        // older edit arriving later loses).
        M::up(
            "CREATE TABLE diary_meta (
                 account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
                 version    INTEGER NOT NULL
             ) STRICT;
             CREATE TABLE diary (
                 account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client_id    TEXT NOT NULL,
                 movie_key    TEXT NOT NULL,
                 title        TEXT NOT NULL,
                 year         INTEGER,
                 watched_on   TEXT NOT NULL,
                 rating       REAL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = round(rating * 2)),
                 rewatch      INTEGER NOT NULL,
                 review       INTEGER NOT NULL,
                 edited_at_ms INTEGER NOT NULL,
                 deleted      INTEGER NOT NULL,
                 PRIMARY KEY (account_id, client_id)
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX diary_order ON diary(account_id, deleted, watched_on);",
        ),
    ])
}
