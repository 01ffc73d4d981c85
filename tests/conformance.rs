//! Every store passes the one conformance suite.

mod common;

use referral_engine::MemoryStore;

referral_engine::conformance_suite!(memory, MemoryStore::new);

#[cfg(feature = "sqlite")]
mod sqlite {
    use referral_engine::store::sqlite::SqliteStore;

    /// A migrated store in a fresh file; the directory lives as long as the test process.
    pub fn file_store() -> SqliteStore {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let store = SqliteStore::open(dir.join("referrals.db")).expect("open");
        store.migrate().expect("migrate");
        store
    }

    pub fn memory_store() -> SqliteStore {
        let store = SqliteStore::open_in_memory().expect("open");
        store.migrate().expect("migrate");
        store
    }

    referral_engine::conformance_suite!(file, file_store);
    referral_engine::conformance_suite!(in_memory, memory_store);
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::common::DropSchema;
    use referral_engine::domain::id::EventKey;
    use referral_engine::event::StoredEvent;
    use referral_engine::store::postgres::PostgresStore;
    use referral_engine::store::{Commit, Key, KeyRange, Store, StoreError, Versioned};

    /// `DATABASE_URL`, or a skip notice; in CI its absence is a failure.
    pub fn configured() -> bool {
        match std::env::var("DATABASE_URL") {
            Ok(_) => true,
            Err(_) if std::env::var_os("CI").is_some() => {
                panic!("CI is set but DATABASE_URL is not: PostgreSQL tests cannot run")
            }
            Err(_) => {
                eprintln!("notice: DATABASE_URL is not set; skipping a PostgreSQL test");
                false
            }
        }
    }

    /// A migrated store in a fresh schema of its own, dropped with it.
    pub fn store() -> Scratch {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let schema = format!("re_test_{}", uuid_like());
        let store = PostgresStore::builder(&url).schema(&schema).connect().expect("connect");
        store.migrate().expect("migrate");
        Scratch { store, _schema: DropSchema { url, schema } }
    }

    /// A store whose schema goes when it does (its connections close first:
    /// fields drop in order).
    pub struct Scratch {
        store: PostgresStore,
        _schema: DropSchema,
    }

    impl Store for Scratch {
        fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
            self.store.get(key)
        }
        fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
            self.store.get_many(keys)
        }
        fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
            self.store.scan(range, limit)
        }
        fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
            self.store.stored_event(key)
        }
        fn forget_outcomes(&self, before: chrono::DateTime<chrono::Utc>, limit: usize) -> Result<usize, StoreError> {
            self.store.forget_outcomes(before, limit)
        }
        fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
            self.store.commit(commit)
        }
    }

    fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
    }

    referral_engine::conformance_suite!(server, store, when = configured());
}
