//! The store a test relay keeps its data in: SQLite by default; PostgreSQL when
//! `MOVIETALK_RELAY_TEST_STORE=postgres`, on the server `MOVIETALK_TEST_POSTGRES` names (a
//! `postgresql://` address without a query; `cargo xtask test` starts a throwaway server and
//! runs the relay's tests once on each store). Each PostgreSQL store lives in a schema of its
//! own, so tests running at once never see each other's rows.

#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use movietalk_relay::RelayStore;
use movietalk_relay::store::SqliteStore;

/// Whether this run keeps the test relays' data in PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("MOVIETALK_RELAY_TEST_STORE").as_deref() == Ok("postgres")
}

/// The PostgreSQL server for tests, if one is configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("MOVIETALK_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A new, empty store.
pub fn fresh() -> Arc<dyn RelayStore> {
    if on_postgres() {
        Arc::new(postgres_store(&new_schema()))
    } else {
        Arc::new(SqliteStore::in_memory().unwrap())
    }
}

/// A store that can be closed and opened again with its data: call the returned function for
/// each opening. (A SQLite file in `dir`, or one PostgreSQL schema.)
pub fn reopenable(dir: &std::path::Path) -> impl Fn() -> Arc<dyn RelayStore> + use<> {
    let schema = on_postgres().then(new_schema);
    let db = dir.join("relay.sqlite3");
    move || -> Arc<dyn RelayStore> {
        match &schema {
            Some(schema) => Arc::new(postgres_store(schema)),
            None => Arc::new(SqliteStore::open(&db).unwrap()),
        }
    }
}

/// The address of the test server with `schema` as the place for new tables (and as the
/// connections' application name, so a test can find them).
pub fn postgres_url_for(schema: &str) -> String {
    let url = postgres_url().expect("MOVIETALK_TEST_POSTGRES names the test PostgreSQL server");
    format!("{url}?application_name={schema}&options=-csearch_path%3D{schema}")
}

/// Opens the PostgreSQL store in `schema` (see [`new_schema`]).
pub fn postgres_store(schema: &str) -> movietalk_relay::pg::PgStore {
    movietalk_relay::pg::PgStore::open(&postgres_url_for(schema))
        .expect("the test PostgreSQL server accepts the store")
}

/// Creates an empty schema on the test PostgreSQL server and returns its name.
pub fn new_schema() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let sql = format!("CREATE SCHEMA {schema}");
    admin(move |c| c.batch_execute(&sql).expect("creating a test schema"));
    schema
}

/// Runs `f` on a connection of its own to the test server, on a thread of its own: the
/// synchronous client runs a runtime of its own, which may not run on the test's.
fn admin<T: Send + 'static>(f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static) -> T {
    let url = postgres_url().expect("MOVIETALK_TEST_POSTGRES names the test PostgreSQL server");
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls)
            .expect("the test PostgreSQL server is up");
        f(&mut c)
    })
    .join()
    .unwrap()
}

/// Cuts every connection the stores of `schema` hold to the test server, as a database restart
/// would; returns how many there were.
pub fn cut_connections(schema: &str) -> i64 {
    let schema = schema.to_owned();
    admin(move |c| {
        c.query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&schema],
        )
        .unwrap()
        .get(0)
    })
}

/// Drops `schema` and everything in it (its relays' tables are gone).
pub fn drop_schema(schema: &str) {
    let sql = format!("DROP SCHEMA {schema} CASCADE");
    admin(move |c| c.batch_execute(&sql).unwrap());
}
