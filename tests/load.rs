//! 8 threads sending 10000 events (duplicates, one referrer hit by many
//! sign-ups, a budget running out) on every store: exactly-once effects, caps
//! and budgets never crossed, figures identical to a serial run.
#![cfg(feature = "testkit")]

mod common;
use referral_engine::MemoryStore;
use referral_engine::testkit::conflicting_events;

const EVENTS: usize = 10_000;

#[test]
fn memory_store_under_load() {
    conflicting_events(&MemoryStore::new, EVENTS);
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_under_load() {
    use referral_engine::store::sqlite::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.db");
    conflicting_events(
        &|| {
            let store = SqliteStore::open(&path).unwrap();
            store.migrate().unwrap();
            store
        },
        EVENTS,
    );
}

#[cfg(feature = "postgres")]
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[test]
fn postgres_store_under_load_through_8_connections() {
    use referral_engine::store::postgres::PostgresStore;
    let Some(url) = common::database_url() else { return };
    let schema = format!("re_load_{}", std::process::id());
    let _drop = common::DropSchema { url: url.clone(), schema: schema.clone() };
    conflicting_events(
        &|| {
            let store = PostgresStore::builder(&url).schema(&schema).connect().unwrap();
            store.migrate().unwrap();
            store.clear().unwrap();
            store
        },
        EVENTS,
    );
}
