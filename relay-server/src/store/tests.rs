//! The SQLite store's upgrade from an earlier schema.

use super::*;

/// A database made by the relay before ids were kept from reuse (schema version 5), with an
/// account, a session, a review, a comment and a like, upgraded by opening it now.
#[test]
fn upgrading_keeps_every_row_and_link_and_ids_are_not_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        let mut conn = Connection::open(&path).unwrap();
        migrations().to_version(&mut conn, 5).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (id, handle, display_name, password_hash, created_at_ms)
                 VALUES (1, 'kept', 'Kept', '', 0), (2, 'gone', 'Gone', '', 0);
             INSERT INTO auth_sessions (id, account_id, client, method, created_at_ms, last_used_at_ms,
                 access_hash, access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
                 VALUES (7, 1, 'c', 'password', 0, 0, 'a', 0, 'r', 9);
             INSERT INTO reviews (id, account_id, movie_key, title, year, rating, body, spoiler,
                 client_id, created_at_ms, updated_at_ms)
                 VALUES (3, 1, 'heat-1995', 'Heat', 1995, 4.5, 'tense', 0, 'c1', 0, 0);
             INSERT INTO comments (id, review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
                 VALUES (4, 3, 1, 'c2', 'yes', 0, 0);
             INSERT INTO room_reads (account_id, room, seq) VALUES (1, 'lobby', -5);
             INSERT INTO changes (payload) VALUES ('{\"change\":\"review_deleted\",\"review_id\":9}');
             DELETE FROM accounts WHERE id = 2;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let conn = store.conn();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        [
            count("accounts"),
            count("auth_sessions"),
            count("reviews"),
            count("comments")
        ],
        [1, 1, 1, 1]
    );
    let fk_errors: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk_errors, 0);
    let fk_on: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk_on, 1, "foreign keys are on again after migrating");
    // Deleting the newest row and inserting again gives a new id.
    conn.execute("DELETE FROM comments WHERE id = 4", [])
        .unwrap();
    conn.execute(
        "INSERT INTO comments (review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
         VALUES (3, 1, 'c3', 'again', 0, 0)",
        [],
    )
    .unwrap();
    assert_eq!(conn.last_insert_rowid(), 5);
    // An id freed before the upgrade may come back once (no connection survives the restart
    // that upgrades, and the deleted account's sessions went with it); never after.
    let add = |handle: &str| {
        conn.execute(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, '', '', 0)",
            [handle],
        )
        .unwrap();
        conn.last_insert_rowid()
    };
    let newest = add("new");
    conn.execute("DELETE FROM accounts WHERE id = ?1", [newest])
        .unwrap();
    assert_eq!(
        add("newer"),
        newest + 1,
        "a deleted account's id is not reused"
    );
    // An id the change log knows of, though its row went before the upgrade, stays used.
    conn.execute(
        "INSERT INTO reviews (account_id, movie_key, title, year, rating, body, spoiler, client_id,
             created_at_ms, updated_at_ms) VALUES (1, 'up-2009', 'Up', 2009, 4.0, '', 0, 'c9', 0, 0)",
        [],
    )
    .unwrap();
    assert_eq!(
        conn.last_insert_rowid(),
        10,
        "review 9 is in the change log"
    );
    // Cascades still work through the rebuilt tables.
    conn.execute("DELETE FROM accounts WHERE id = 1", [])
        .unwrap();
    assert_eq!(
        [count("auth_sessions"), count("reviews"), count("comments")],
        [0, 0, 0]
    );
    let names: i64 = conn
        .query_row(
            "SELECT count(*) FROM room_names WHERE name = 'lobby'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(names, 1, "rooms read before count as used");
}
