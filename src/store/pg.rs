//! PostgreSQL through the host's own sqlx pool (feature `sqlx-postgres`): an
//! [`AsyncStore`] for the [`AsyncEngine`](crate::engine::AsyncEngine).
//!
//! [`PgStore::new`] takes the host's `PgPool` and opens no connection of its
//! own; TLS, pool size and timeouts are the pool's, as the host set them
//! (sqlx's `tls-rustls-*` features). Its tables live in a schema of their
//! own (`referral_engine` unless [`with_schema`](PgStore::with_schema) names
//! another), beside the host's, and every statement names that schema: the
//! host's `search_path` is never changed beyond a migration's own
//! transaction.
//!
//! The tables, the migrations and the commit function are those of the sync
//! `PostgresStore` (the same SQL, `migrations/`), so either store reads what
//! the other wrote: `re_records`, `re_events`, the views, and `re_commit`,
//! which applies a whole commit in one statement (one round trip). Its
//! migration history is its own table, `re_schema_version`, in its schema,
//! never the host's `_sqlx_migrations`.
//!
//! # In the host's transaction
//!
//! [`AsyncEngine::handle_in`](crate::engine::AsyncEngine::handle_in) handles
//! an event inside a transaction the host opened, so the host's own rows
//! (an order) and the event's effects commit together or not at all. The
//! commit runs behind a savepoint: a conflict rolls back to it and the event
//! is decided again without aborting the host's transaction. The crate never
//! commits or rolls back the host's transaction.
//!
//! # Isolation
//!
//! `re_commit` locks every row it depends on, then checks each version in a
//! statement of its own. That is sound at `READ COMMITTED` (each statement
//! sees every commit that held the lock before it) and at `SERIALIZABLE`
//! (where what it misses, the server aborts with `40001`, retried). At
//! `REPEATABLE READ` a version check runs against the transaction's first
//! snapshot, so a key read as absent or changed since would pass: a host
//! transaction at that level is refused ([`StoreError::Isolation`]) before
//! anything is written.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgDatabaseError;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row};

use super::asynchronous::{AsyncStore, Turn};
use super::snapshot::{Needs, Snapshot};
use super::sql::{self, Arrays, EventArrays, MIGRATIONS};
use super::{Commit, Key, StoreError};
use crate::domain::id::EventKey;

/// The schema a [`PgStore`] keeps its tables in unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "referral_engine";

/// The engine's records in PostgreSQL, through the host's pool; see the
/// module documentation.
///
/// ```no_run
/// # async fn wire(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// use referral_engine::engine::AsyncEngine;
/// use referral_engine::store::pg::PgStore;
/// let store = PgStore::new(pool).with_schema("referrals")?;
/// store.migrate().await?;
/// let engine = AsyncEngine::new(store);
/// # let _ = engine; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    schema: Arc<str>,
    sql: Arc<Statements>,
    portable: bool,
    lane: super::backoff::Lane,
}

/// The statements, each naming the store's schema, built once.
#[derive(Debug)]
struct Statements {
    get_many: Arc<str>,
    scan: Arc<str>,
    events: Arc<str>,
    forget: Arc<str>,
    commit: Arc<str>,
    insert_events: Arc<str>,
    lock_versions: Arc<str>,
    insert_records: Arc<str>,
    update_records: Arc<str>,
    delete_records: Arc<str>,
}

impl Statements {
    fn in_schema(quoted: &str) -> Self {
        let s = quoted;
        Statements {
            get_many: format!("SELECT key, version, body FROM {s}.re_records WHERE key = ANY($1)").into(),
            scan: format!(
                "SELECT key, version, body FROM {s}.re_records WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3"
            )
            .into(),
            events: format!("SELECT key, digest, handled_at, outcome FROM {s}.re_events WHERE key = ANY($1)").into(),
            forget: format!(
                "UPDATE {s}.re_events SET outcome = NULL WHERE key IN (SELECT key FROM {s}.re_events
                 WHERE outcome IS NOT NULL AND handled_at < $1 ORDER BY handled_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            )
            .into(),
            commit: format!("SELECT {s}.re_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)").into(),
            insert_events: format!(
                "INSERT INTO {s}.re_events (key, digest, handled_at, outcome)
                 SELECT * FROM unnest($1::text[], $2::bytea[], $3::timestamptz[], $4::text[])
                 ON CONFLICT (key) DO NOTHING RETURNING key"
            )
            .into(),
            lock_versions: format!(
                "SELECT key, version FROM {s}.re_records WHERE key = ANY($1) ORDER BY key FOR UPDATE"
            )
            .into(),
            insert_records: format!(
                "INSERT INTO {s}.re_records (key, version, body) SELECT k, 1, b FROM unnest($1::text[], $2::text[]) AS t(k, b)"
            )
            .into(),
            update_records: format!(
                "UPDATE {s}.re_records r SET version = t.v, body = t.b
                 FROM unnest($1::text[], $2::int8[], $3::text[]) AS t(k, v, b) WHERE r.key = t.k"
            )
            .into(),
            delete_records: format!("DELETE FROM {s}.re_records WHERE key = ANY($1)").into(),
        }
    }
}

/// One version of the store's schema as plain SQL, for a host that runs
/// every migration with one migrator: see [`PgStore::migration_scripts`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationScript {
    /// The store's schema version it applies (1, 2, ...): give it a number
    /// of the host's migrator that sorts after the host's own tables'.
    pub version: i64,
    /// What it does, in a few words.
    pub description: String,
    /// The statements, run in one transaction.
    pub sql: String,
}

/// A schema name [`PgStore::with_schema`] does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a schema name the store takes: {reason}")]
#[non_exhaustive]
pub struct InvalidSchema {
    /// The name given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks a schema name: 1 to 63 bytes of ASCII letters, digits and `_`,
/// not starting with a digit, and not PostgreSQL's own (`pg_...`,
/// `information_schema`). Such a name needs no quoting, so it is the same
/// name in the host's SQL, quoted or not (it is folded to lower case there
/// when unquoted: upper-case letters are refused).
fn valid_schema(name: &str) -> Result<(), InvalidSchema> {
    let refuse = |reason| Err(InvalidSchema { name: name.to_owned(), reason });
    if name.is_empty() || name.len() > 63 {
        return refuse("it must be 1 to 63 bytes long");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return refuse("it may hold only lower-case ASCII letters, digits and '_'");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return refuse("it must not start with a digit");
    }
    if name.starts_with("pg_") || name == "information_schema" {
        return refuse("it is reserved by PostgreSQL");
    }
    Ok(())
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Whether a SQLSTATE names a failure after which the same work may
/// succeed: a serialization failure or deadlock, a lost or refused
/// connection (class 08, 57P0x) or a server short of resources (class 53).
fn transient_code(code: &str) -> bool {
    code == "40001" || code == "40P01" || code.starts_with("08") || code.starts_with("53") || code.starts_with("57P0")
}

/// A failure by SQLSTATE (never by text), or by the client's side: I/O,
/// the pool's timeout or closing, a crashed worker are transient.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    let transient = match &e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_code(&c)),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        _ => false,
    };
    if transient { StoreError::Transient(Box::new(e)) } else { backend(e) }
}

/// How many times a fetch on the pool reads again after a serialization
/// failure before it gives up (transient).
const READ_AGAIN: u32 = 16;

/// Whether a failure is PostgreSQL's serialization failure (40001).
fn is_serialization_failure(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    matches!(e.downcast_ref::<sqlx::Error>(), Some(sqlx::Error::Database(db)) if db.code().as_deref() == Some("40001"))
}

/// The answer to a failed `re_commit` (see [`sql::commit_failure`]).
fn commit_failure(e: sqlx::Error, commit: &Commit) -> StoreError {
    let answer = match &e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<PgDatabaseError>()
            .and_then(|pg| sql::commit_failure(pg.code(), pg.message(), pg.detail(), commit)),
        _ => None,
    };
    answer.unwrap_or_else(|| classify(e))
}

/// The isolation level of the transaction a connection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolation {
    /// `READ COMMITTED` (and `READ UNCOMMITTED`, which PostgreSQL runs as it).
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
}

impl PgStore {
    /// A store over the host's pool, its tables in [`DEFAULT_SCHEMA`].
    /// Opens nothing: call [`migrate`](Self::migrate) once at start-up.
    pub fn new(pool: PgPool) -> Self {
        Self::in_schema(pool, DEFAULT_SCHEMA)
    }

    /// Whether commits take the portable path (see [`portable`](Self::portable)).
    pub fn is_portable(&self) -> bool {
        self.portable
    }

    fn in_schema(pool: PgPool, schema: &str) -> Self {
        let quoted = format!("\"{schema}\"");
        Self {
            pool,
            sql: Arc::new(Statements::in_schema(&quoted)),
            schema: schema.into(),
            portable: false,
            lane: super::backoff::Lane::default(),
        }
    }

    /// Commits with plain statements in a `SERIALIZABLE` transaction
    /// instead of the `re_commit` function: no PL/pgSQL and no lock beyond
    /// the rows a commit touches, the path a PostgreSQL-wire distributed
    /// engine (CockroachDB, YugabyteDB) needs. The events are inserted
    /// first (`ON CONFLICT DO NOTHING RETURNING`: a key missing from what
    /// came back is a duplicate), the rows read are locked and their
    /// versions compared in Rust, then the writes go in with `unnest`; what
    /// the checks cannot see (a key read as absent and inserted since), the
    /// server aborts (`40001`, transient: decided again). A commit costs a
    /// round trip per statement instead of one. Inside a host transaction
    /// ([`AsyncEngine::handle_in`](crate::engine::AsyncEngine::handle_in)),
    /// this path is taken when the host's transaction is `SERIALIZABLE`.
    pub fn portable(mut self) -> Self {
        self.portable = true;
        self
    }

    /// Keeps the tables in `schema` (created by [`migrate`](Self::migrate)
    /// if missing). See [`InvalidSchema`] for the names it takes.
    pub fn with_schema(self, schema: &str) -> Result<Self, InvalidSchema> {
        valid_schema(schema)?;
        Ok(Self { portable: self.portable, ..Self::in_schema(self.pool, schema) })
    }

    /// The schema of the store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The host's pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates or upgrades the store's schema in a transaction of its own;
    /// returns the schema version. See [`migrate_in`](Self::migrate_in).
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let version = self.migrate_in(&mut tx).await?;
        tx.commit().await.map_err(classify)?;
        Ok(version)
    }

    /// Creates or upgrades the store's schema on `conn`: inside the host's
    /// transaction when one is open (behind a savepoint; the host commits
    /// it, with its own migrations), else in a transaction of its own.
    /// Servers that start at once are serialized by a transaction-scoped
    /// advisory lock: the first migrates, the others find it done. A store
    /// written by an earlier version is converted, or refused
    /// ([`StoreError::DataFormat`]) with nothing changed.
    pub async fn migrate_in(&self, conn: &mut PgConnection) -> Result<i64, StoreError> {
        let mut tx = conn.begin().await.map_err(classify)?;
        let version = self.migrate_steps(&mut tx).await?;
        tx.commit().await.map_err(classify)?;
        Ok(version)
    }

    async fn migrate_steps(&self, tx: &mut PgConnection) -> Result<i64, StoreError> {
        let quoted = format!("\"{}\"", self.schema);
        sqlx::query("SELECT pg_advisory_xact_lock(7243001)").execute(&mut *tx).await.map_err(classify)?;
        // Looked up by a query, whose snapshot is taken after the lock: a
        // bare `CREATE SCHEMA IF NOT EXISTS` may check a catalog cache that
        // has not seen a concurrent server's schema yet.
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&*self.schema)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        if !exists {
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA {quoted}")))
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        // The migrations name their tables bare: for this transaction only,
        // they resolve in the store's schema; the caller's path is restored.
        let path: String =
            sqlx::query_scalar("SELECT current_setting('search_path')").fetch_one(&mut *tx).await.map_err(classify)?;
        set_path(tx, &quoted).await?;
        let version = migrate_in_path(tx).await?;
        set_path(tx, &path).await?;
        Ok(version)
    }

    /// The store's migrations as plain SQL, in order, for a host that runs
    /// all its migrations with one migrator (sqlx's `Migrator`, refinery)
    /// instead of calling [`migrate`](Self::migrate). Each script creates
    /// the schema if missing, applies one version with its tables resolved
    /// there (the caller's `search_path` is restored at its end), and
    /// records the version in the store's own `re_schema_version`, so a
    /// later `migrate()` finds nothing to do. A script that would have to
    /// convert data an early version of the crate wrote refuses with an
    /// error instead: such a store needs `migrate()`. Use one way or the
    /// other on a schema, not both in turn.
    ///
    /// ```no_run
    /// # fn wire(store: referral_engine::store::pg::PgStore) {
    /// // With sqlx's `migrate` feature: after the host's own migrations.
    /// // let mut migrator = sqlx::migrate!();
    /// for script in store.migration_scripts() {
    ///     let version = 9_000_000 + script.version; // after the host's numbers
    ///     // migrator.migrations.to_mut().push(sqlx::migrate::Migration::new(
    ///     //     version, script.description.into(), sqlx::migrate::MigrationType::Simple, script.sql.into(), false));
    /// #   let _ = version;
    /// }
    /// # }
    /// ```
    pub fn migration_scripts(&self) -> Vec<MigrationScript> {
        let quoted = format!("\"{}\"", self.schema);
        let last = sql::latest();
        MIGRATIONS
            .iter()
            .map(|m| {
                let refuse = |what: &str| {
                    format!(
                        "DO $re$ BEGIN IF {what} THEN RAISE EXCEPTION 'referral-engine: this store holds data \
                         an earlier version wrote; convert it with PgStore::migrate()'; END IF; END $re$;\n"
                    )
                };
                let mut script = format!(
                    "CREATE SCHEMA IF NOT EXISTS {quoted};\n\
                     SELECT set_config('referral_engine.caller_path', current_setting('search_path'), true), \
                     set_config('search_path', '{quoted}', true);\n\
                     CREATE TABLE IF NOT EXISTS re_schema_version (version BIGINT PRIMARY KEY, \
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now());\n"
                );
                if m.version == 4 {
                    script.push_str(&refuse("EXISTS (SELECT 1 FROM re_records)"));
                }
                script.push_str(m.postgres);
                script.push('\n');
                if m.version == 5 {
                    script.push_str(&refuse("EXISTS (SELECT 1 FROM re_events_format3)"));
                    script.push_str(sql::DROP_FORMAT_3_EVENTS);
                    script.push_str(";\n");
                }
                if m.version == sql::VIEWS_SINCE || m.version == sql::VIEWS_LATEST {
                    script.push_str(&sql::views(sql::Dialect::Postgres));
                }
                if m.version == last {
                    script.push_str(&format!(
                        "INSERT INTO re_data_format (version) VALUES ({}) ON CONFLICT DO NOTHING;\n",
                        sql::FORMAT
                    ));
                }
                script.push_str(&format!(
                    "INSERT INTO re_schema_version (version) VALUES ({});\n\
                     SELECT set_config('search_path', current_setting('referral_engine.caller_path'), true);\n",
                    m.version
                ));
                MigrationScript {
                    version: m.version,
                    description: format!("referral-engine schema {} in {}", m.version, self.schema),
                    sql: script,
                }
            })
            .collect()
    }

    /// Removes every record and event (for tests).
    pub async fn clear(&self) -> Result<(), StoreError> {
        let s = format!("\"{}\"", self.schema);
        sqlx::raw_sql(AssertSqlSafe(format!("TRUNCATE {s}.re_records, {s}.re_events")))
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Reads what `needs` names on `conn` into `snapshot`: the records in
    /// one statement, the idempotency records in another, each range in its
    /// own.
    pub(crate) async fn fetch_in(
        &self,
        conn: &mut PgConnection,
        needs: Needs,
        snapshot: &mut Snapshot,
    ) -> Result<(), StoreError> {
        if !needs.keys.is_empty() {
            let wanted: Vec<&str> = needs.keys.iter().map(Key::as_str).collect();
            let rows = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.get_many)))
                .bind(&wanted)
                .fetch_all(&mut *conn)
                .await
                .map_err(classify)?;
            let found = rows.iter().map(record_row).collect::<Result<std::collections::HashMap<_, _>, _>>()?;
            let versions = needs.keys.iter().map(|k| found.get(k.as_str()).cloned()).collect();
            snapshot.found(needs.keys, versions);
        }
        for (range, limit) in needs.scans {
            let rows = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.scan)))
                .bind(range.start.as_str())
                .bind(range.end.as_str())
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&mut *conn)
                .await
                .map_err(classify)?;
            let found = rows
                .iter()
                .map(|row| record_row(row).map(|(key, versioned)| (Key::from_stored(key), versioned)))
                .collect::<Result<_, _>>()?;
            snapshot.scanned(range, limit, found);
        }
        if !needs.events.is_empty() {
            let wanted: Vec<&str> = needs.events.iter().map(EventKey::as_str).collect();
            let rows = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.events)))
                .bind(&wanted)
                .fetch_all(&mut *conn)
                .await
                .map_err(classify)?;
            let mut found = std::collections::HashMap::with_capacity(rows.len());
            for row in rows {
                let key: String = row.try_get(0).map_err(backend)?;
                let digest: Vec<u8> = row.try_get(1).map_err(backend)?;
                let handled: DateTime<Utc> = row.try_get(2).map_err(backend)?;
                let outcome: Option<String> = row.try_get(3).map_err(backend)?;
                found.insert(key, (digest, handled, outcome));
            }
            for key in needs.events {
                let stored = match found.remove(key.as_str()) {
                    Some((digest, handled, outcome)) => {
                        Some(sql::decode_event(&key, &digest, handled, outcome.as_deref())?)
                    }
                    None => None,
                };
                snapshot.stored(key, stored);
            }
        }
        Ok(())
    }

    /// Applies `commit` with one `re_commit` statement on `conn`.
    pub(crate) async fn commit_in(&self, conn: &mut PgConnection, commit: &Commit) -> Result<(), StoreError> {
        let a = Arrays::of(commit)?;
        sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.commit)))
            .bind(&a.events.keys)
            .bind(&a.events.digests)
            .bind(&a.events.handled)
            .bind(&a.events.outcomes)
            .bind(&a.read_keys)
            .bind(&a.read_versions)
            .bind(&a.new_keys)
            .bind(&a.new_bodies)
            .bind(&a.changed_keys)
            .bind(&a.changed_versions)
            .bind(&a.changed_bodies)
            .bind(&a.gone)
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(|e| commit_failure(e, commit))
    }

    /// Applies `commit` with plain statements on `conn`, which must be in a
    /// `SERIALIZABLE` transaction (see [`portable`](Self::portable)).
    pub(crate) async fn commit_portably_in(&self, conn: &mut PgConnection, commit: &Commit) -> Result<(), StoreError> {
        let a = Arrays::of(commit)?;
        let failed = |e: sqlx::Error| commit_failure(e, commit);
        if !a.events.keys.is_empty() {
            let inserted: Vec<String> = sqlx::query_scalar(AssertSqlSafe(Arc::clone(&self.sql.insert_events)))
                .bind(&a.events.keys)
                .bind(&a.events.digests)
                .bind(&a.events.handled)
                .bind(&a.events.outcomes)
                .fetch_all(&mut *conn)
                .await
                .map_err(failed)?;
            if let Some(taken) = commit.keys().find(|k| !inserted.iter().any(|i| i == k.as_str())) {
                return Err(StoreError::DuplicateEvent(taken.clone()));
            }
        }
        let found: Vec<(String, i64)> = sqlx::query_as(AssertSqlSafe(Arc::clone(&self.sql.lock_versions)))
            .bind(&a.read_keys)
            .fetch_all(&mut *conn)
            .await
            .map_err(failed)?;
        let found: std::collections::HashMap<&str, i64> = found.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        for (key, expected) in &commit.reads {
            let version = found.get(key.as_str()).copied().unwrap_or(0);
            let version = sql::from_sql_version(key.as_str(), version)?;
            if version != *expected {
                return Err(StoreError::Conflict { key: key.clone(), expected: *expected, found: version });
            }
        }
        if !a.new_keys.is_empty() {
            sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.insert_records)))
                .bind(&a.new_keys)
                .bind(&a.new_bodies)
                .execute(&mut *conn)
                .await
                .map_err(failed)?;
        }
        if !a.changed_keys.is_empty() {
            sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.update_records)))
                .bind(&a.changed_keys)
                .bind(&a.changed_versions)
                .bind(&a.changed_bodies)
                .execute(&mut *conn)
                .await
                .map_err(failed)?;
        }
        if !a.gone.is_empty() {
            sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.delete_records)))
                .bind(&a.gone)
                .execute(&mut *conn)
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    /// The isolation level of the transaction `conn` is in.
    pub(crate) async fn isolation(conn: &mut PgConnection) -> Result<Isolation, StoreError> {
        let level: String = sqlx::query_scalar("SELECT current_setting('transaction_isolation')")
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        Ok(match level.as_str() {
            "repeatable read" => Isolation::RepeatableRead,
            "serializable" => Isolation::Serializable,
            _ => Isolation::ReadCommitted,
        })
    }

    async fn connection(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
        self.pool.acquire().await.map_err(classify)
    }
}

/// A `(key, version, body)` row of `re_records`, decoded.
fn record_row(row: &sqlx::postgres::PgRow) -> Result<(String, super::Versioned), StoreError> {
    let key: String = row.try_get(0).map_err(backend)?;
    let versioned = sql::versioned(&key, row.try_get(1).map_err(backend)?, row.try_get(2).map_err(backend)?)?;
    Ok((key, versioned))
}

/// Sets the transaction's `search_path` (until it ends, or until set again).
async fn set_path(tx: &mut PgConnection, path: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT set_config('search_path', $1, true)")
        .bind(path)
        .execute(&mut *tx)
        .await
        .map(drop)
        .map_err(classify)
}

/// The migration itself, its tables resolved through the `search_path`:
/// the schema's migrations, the data format's conversion, the views.
async fn migrate_in_path(tx: &mut PgConnection) -> Result<i64, StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS re_schema_version (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
    )
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM re_schema_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
    let holds_data = current > 0
        && sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM re_records) OR EXISTS (SELECT 1 FROM re_events)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
    let recorded: Option<i64> = if current >= 4 {
        sqlx::query_scalar("SELECT MAX(version) FROM re_data_format").fetch_one(&mut *tx).await.map_err(classify)?
    } else {
        None
    };
    let step = sql::format_step(current, recorded, holds_data)?;
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        sqlx::raw_sql(m.postgres).execute(&mut *tx).await.map_err(classify)?;
        sqlx::query("INSERT INTO re_schema_version (version) VALUES ($1)")
            .bind(m.version)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
    }
    if step == sql::FormatStep::Upgrade {
        let mut upgrade = sql::Upgrade::default();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, body FROM re_records").fetch_all(&mut *tx).await.map_err(classify)?;
        for (key, body) in &rows {
            upgrade.record(key, body)?;
        }
        let mut rewrites = Vec::new();
        for (key, body) in rows.iter().filter(|(k, _)| k.starts_with("r/") || k.starts_with("x/")) {
            if let Some(body) = upgrade.rewrite(key, body)? {
                rewrites.push((key.clone(), body));
            }
        }
        for (key, body) in rewrites.iter().chain(upgrade.writes()) {
            sqlx::query(
                "INSERT INTO re_records (key, version, body) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body, version = re_records.version + 1",
            )
            .bind(key)
            .bind(body)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
    }
    if current < sql::VIEWS_LATEST {
        sqlx::raw_sql(AssertSqlSafe(sql::views(sql::Dialect::Postgres))).execute(&mut *tx).await.map_err(classify)?;
    }
    if current < 5 {
        // Schema 5 renamed the events table; its rows move, each decoded.
        let rows: Vec<(String, String, String)> =
            sqlx::query_as(sql::FORMAT_3_EVENTS).fetch_all(&mut *tx).await.map_err(classify)?;
        let moved = rows
            .iter()
            .map(|(key, event, outcome)| sql::moved_event(key, event, outcome))
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in moved.chunks(1_000) {
            let a = EventArrays::of(chunk)?;
            sqlx::query(
                "INSERT INTO re_events (key, digest, handled_at, outcome)
                 SELECT * FROM unnest($1::text[], $2::bytea[], $3::timestamptz[], $4::text[])",
            )
            .bind(&a.keys)
            .bind(&a.digests)
            .bind(&a.handled)
            .bind(&a.outcomes)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        sqlx::raw_sql(sql::DROP_FORMAT_3_EVENTS).execute(&mut *tx).await.map_err(classify)?;
    }
    sqlx::query("INSERT INTO re_data_format (version) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(sql::FORMAT)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(current.max(sql::latest()))
}

impl AsyncStore for PgStore {
    async fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        let mut conn = self.connection().await?;
        // A read has no effect, so one that a SERIALIZABLE server aborted
        // (40001: this read-only statement met a cycle of concurrent
        // writers) is made again here, after a pause that doubles, rather
        // than spending the engine's few retries for failing reads, which
        // are for a server that is down.
        let mut aborted: u32 = 0;
        loop {
            match self.fetch_in(&mut conn, needs.clone(), snapshot).await {
                Err(StoreError::Transient(e)) if aborted < READ_AGAIN && is_serialization_failure(e.as_ref()) => {
                    tokio::time::sleep(std::time::Duration::from_millis(1 << aborted.min(6))).await;
                    aborted = aborted.saturating_add(1);
                }
                done => return done,
            }
        }
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        if !self.portable {
            let mut conn = self.connection().await?;
            return self.commit_in(&mut conn, &commit).await;
        }
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE").await.map_err(classify)?;
        match self.commit_portably_in(&mut tx, &commit).await {
            Ok(()) => tx.commit().await.map_err(classify),
            Err(failed) => {
                // Dropping the transaction would roll it back too, later.
                let _ = tx.rollback().await;
                Err(failed)
            }
        }
    }

    /// After a conflict, a random pause under a ceiling that doubles (for
    /// writers on other servers), then the retry decides alone among this
    /// store's writers (see [`AsyncStore::turn`]).
    async fn turn(&self, attempt: u32) -> Turn {
        super::backoff::sleep(attempt).await;
        self.lane.turn(attempt).await
    }

    async fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let forgotten = sqlx::query(AssertSqlSafe(Arc::clone(&self.sql.forget)))
            .bind(before)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(usize::try_from(forgotten.rows_affected()).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["referrals", "re_2026", "_x"] {
            assert!(valid_schema(good).is_ok(), "{good}");
        }
        for bad in ["", "Referrals", "a-b", "a\"b", "1st", "pg_catalog", "information_schema", &"x".repeat(64)] {
            assert!(valid_schema(bad).is_err(), "{bad:?}");
        }
    }
}
