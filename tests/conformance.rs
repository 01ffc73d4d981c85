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

    pub fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
    }

    referral_engine::conformance_suite!(
        #[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
        server,
        store,
        when = configured()
    );
}

/// The async suite: the memory store served directly, SQLite through the
/// blocking pool, and the sqlx store at each isolation level.
#[cfg(feature = "tokio")]
mod asynchronous {
    use referral_engine::MemoryStore;
    use referral_engine::store::Blocking;

    referral_engine::async_conformance_suite!(memory, || async { MemoryStore::new() });

    #[cfg(feature = "sqlite")]
    referral_engine::async_conformance_suite!(sqlite_blocking, || async {
        Blocking::new(crate::sqlite::memory_store())
    });
}

#[cfg(all(feature = "sqlx-postgres", feature = "postgres"))]
mod pg {
    use super::common::DropSchema;
    use super::postgres::configured;
    use referral_engine::engine::Needs;
    use referral_engine::engine::Snapshot;
    use referral_engine::store::pg::PgStore;
    use referral_engine::store::{AsyncStore, Commit, StoreError};

    /// A migrated sqlx store in a fresh schema, on a pool whose transactions
    /// run at `level` by default; the schema goes when the store does.
    async fn store_at(level: &'static str) -> Scratch {
        scratch(level, false).await
    }

    /// [`store_at`], the store committing with plain statements
    /// (`PgStore::portable`) when `portable`.
    async fn scratch(level: &'static str, portable: bool) -> Scratch {
        let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let set = format!("SET default_transaction_isolation = '{level}'");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(conn).await.map(drop)
                })
            })
            .connect(&url)
            .await
            .expect("connect");
        let schema = format!("re_async_{}", super::postgres::uuid_like());
        let store = PgStore::new(pool).with_schema(&schema).expect("schema");
        let store = if portable { store.portable() } else { store };
        store.migrate().await.expect("migrate");
        Scratch { store, _schema: DropSchema { url, schema } }
    }

    /// A store whose schema goes when it does.
    pub struct Scratch {
        store: PgStore,
        _schema: DropSchema,
    }

    impl AsyncStore for Scratch {
        async fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> Result<(), StoreError> {
            self.store.fetch(needs, snapshot).await
        }
        async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
            self.store.commit(commit).await
        }
        async fn turn(&self, attempt: u32) -> referral_engine::store::Turn {
            self.store.turn(attempt).await
        }
        async fn forget_outcomes(
            &self,
            before: chrono::DateTime<chrono::Utc>,
            limit: usize,
        ) -> Result<usize, StoreError> {
            self.store.forget_outcomes(before, limit).await
        }
    }

    referral_engine::async_conformance_suite!(
        #[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
        read_committed,
        || store_at("read committed"),
        when = configured()
    );
    referral_engine::async_conformance_suite!(
        #[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
        serializable,
        || store_at("serializable"),
        when = configured()
    );
    // The portable commit (no PL/pgSQL) runs its own SERIALIZABLE transactions, whatever the pool's default.
    referral_engine::async_conformance_suite!(
        #[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
        portable,
        || scratch("read committed", true),
        when = configured()
    );

    /// At REPEATABLE READ every commit is refused, with nothing written.
    #[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
    #[test]
    fn repeatable_read_is_refused() {
        if !configured() {
            return;
        }
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let store = store_at("repeatable read").await;
            let engine = referral_engine::engine::AsyncEngine::new(store)
                .with_program(referral_engine::testkit::scenario_program());
            let event = referral_engine::Event::new(
                "e",
                "conformance",
                referral_engine::event::Enroll::new("ann".parse().expect("id")),
            )
            .expect("event");
            let refused = engine.handle(&event).await.expect_err("refused");
            assert!(matches!(refused, referral_engine::Error::Store(StoreError::Isolation { .. })), "{refused:?}");
            let program = "conformance".parse().expect("id");
            let ann = engine.read(&program, |r| r.participant(&"ann".parse().expect("id"))).await.expect("read");
            assert!(ann.is_none(), "nothing was written");
        });
    }
}

/// In CI the PostgreSQL tests must run: built there without `DATABASE_URL`,
/// they would all show as ignored and CI would pass on nothing.
#[test]
fn ci_runs_the_postgresql_tests() {
    if std::env::var_os("CI").is_some() {
        let built_with_a_database = cfg!(database_url);
        assert!(built_with_a_database, "CI is set but the tests were built without DATABASE_URL");
    }
}
