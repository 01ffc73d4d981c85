//! The PostgreSQL store (feature `postgres`): many app servers, one database.
//!
//! A commit is one statement, `SELECT re_commit(...)` (a PL/pgSQL function
//! the migrations create, in `re_commit.sql`), so one round trip and one
//! implicit transaction at `READ COMMITTED`. It locks what it depends on:
//!
//! 1. the events' idempotency rows are inserted first; a key stored before,
//!    or by a twin committing concurrently (this commit waits for it), makes
//!    the function raise `RE001`, answered as [`StoreError::DuplicateEvent`];
//! 2. every record read at a version is locked (`SELECT ... ORDER BY key FOR
//!    UPDATE`) and its version compared (`RE002`: [`StoreError::Conflict`]);
//!    a record read as absent and written is inserted, and a concurrent insert
//!    of the same key fails with `23505`, also a conflict;
//! 3. the writes are applied. Any error rolls the whole statement back.
//!
//! Deadlocks (`40P01`) and serialization failures (`40001`) are transient:
//! the engine decides again. Errors are classified by SQLSTATE, never by text.

use postgres::NoTls;
use postgres::error::SqlState;
use postgres::types::Type;
use r2d2::Pool;
use r2d2_postgres::PostgresConnectionManager;

use super::sql::{self, MIGRATIONS};
use super::{Commit, Key, KeyRange, Store, StoreError, StoredEvent, Versioned, Write};
use crate::domain::id::EventKey;

/// A [`Store`] in a PostgreSQL database, through a pool of connections.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool<PostgresConnectionManager<NoTls>>,
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn classify(e: postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            StoreError::Transient(Box::new(e))
        }
        _ => backend(e),
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl PostgresStore {
    /// Connects with a URL (`postgres://user@host/db`), a pool of up to 8 connections.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, None, 8)
    }

    /// Connects with a pool of `pool_size` connections, using the tables in
    /// `schema` (created if missing) when given.
    pub fn connect_with(url: &str, schema: Option<&str>, pool_size: u32) -> Result<Self, StoreError> {
        let mut config: postgres::Config = url.parse().map_err(backend)?;
        if let Some(schema) = schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Backend(
                    format!("schema name {schema:?} must be ASCII letters, digits and _").into(),
                ));
            }
            let mut client = config.connect(NoTls).map_err(backend)?;
            client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).map_err(classify)?;
            config.options(&format!("-c search_path={schema}"));
        }
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool =
            Pool::builder().test_on_check_out(false).max_size(pool_size.max(1)).build(manager).map_err(backend)?;
        Ok(Self { pool })
    }

    fn client(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.pool.get().map_err(backend)
    }

    /// Applies the migrations this crate version needs; returns the schema
    /// version. Concurrent callers are serialized by an advisory lock.
    pub fn migrate(&self) -> Result<i64, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(classify)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7243001);
             CREATE TABLE IF NOT EXISTS re_schema_version (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
        )
        .map_err(classify)?;
        let current: i64 =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM re_schema_version", &[]).map_err(classify)?.get(0);
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.batch_execute(m.postgres).map_err(classify)?;
            tx.execute("INSERT INTO re_schema_version (version) VALUES ($1)", &[&m.version]).map_err(classify)?;
        }
        tx.commit().map_err(classify)?;
        Ok(current.max(sql::latest()))
    }

    /// Removes every record and event (for tests).
    pub fn clear(&self) -> Result<(), StoreError> {
        self.client()?.batch_execute("TRUNCATE re_records, re_events").map_err(classify)
    }
}

/// A commit's arrays, as `re_commit` takes them.
#[derive(Default)]
struct Arrays<'c> {
    event_keys: Vec<&'c str>,
    events: Vec<String>,
    outcomes: Vec<String>,
    read_keys: Vec<&'c str>,
    read_versions: Vec<i64>,
    new_keys: Vec<&'c str>,
    new_bodies: Vec<String>,
    changed_keys: Vec<&'c str>,
    changed_versions: Vec<i64>,
    changed_bodies: Vec<String>,
    gone: Vec<&'c str>,
}

impl<'c> Arrays<'c> {
    fn of(commit: &'c Commit) -> Result<Self, StoreError> {
        let mut a = Arrays::default();
        for stored in &commit.events {
            a.event_keys.push(stored.event.key.as_str());
            a.events.push(sql::encode(&stored.event)?);
            a.outcomes.push(sql::encode(&stored.outcome)?);
        }
        for (key, version) in &commit.reads {
            a.read_keys.push(key.as_str());
            a.read_versions.push(sql::to_sql_version(*version)?);
        }
        for write in &commit.writes {
            match write {
                Write::Put(key, record) => {
                    let body = sql::encode(record.as_ref())?;
                    match commit.expected(key) {
                        0 => {
                            a.new_keys.push(key.as_str());
                            a.new_bodies.push(body);
                        }
                        expected => {
                            a.changed_keys.push(key.as_str());
                            a.changed_versions.push(sql::next_sql_version(key.as_str(), expected)?);
                            a.changed_bodies.push(body);
                        }
                    }
                }
                Write::Delete(key) => a.gone.push(key.as_str()),
            }
        }
        Ok(a)
    }
}

/// The answer to a failed `re_commit`: a duplicate event or a conflict when
/// the function says so (by SQLSTATE), else what [`classify`] makes of it.
fn commit_failure(e: postgres::Error, commit: &Commit) -> StoreError {
    let Some(db) = e.as_db_error() else { return classify(e) };
    match db.code().code() {
        "RE001" => match commit.keys().find(|k| k.as_str() == db.message()) {
            Some(key) => StoreError::DuplicateEvent(key.clone()),
            None => classify(e),
        },
        "RE002" => {
            let mut versions = db.detail().unwrap_or_default().split(' ').map(str::parse::<u64>);
            let (expected, found) = match (versions.next(), versions.next()) {
                (Some(Ok(expected)), Some(Ok(found))) => (expected, found),
                _ => return classify(e),
            };
            StoreError::Conflict { key: Key::from_stored(db.message().to_owned()), expected, found }
        }
        // A record read as absent was inserted by a concurrent commit.
        _ if is_unique_violation(&e) => {
            let key = commit.writes.iter().map(Write::key).find(|k| commit.expected(k) == 0).cloned();
            StoreError::Conflict { key: key.unwrap_or_else(|| Key::from_stored(String::new())), expected: 0, found: 1 }
        }
        _ => classify(e),
    }
}

impl Store for PostgresStore {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_typed_opt("SELECT version, body FROM re_records WHERE key = $1", &[(&key.as_str(), Type::TEXT)])
            .map_err(classify)?;
        row.map(|r| sql::versioned(key.as_str(), r.get(0), r.get(1))).transpose()
    }

    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let wanted: Vec<&str> = keys.iter().map(Key::as_str).collect();
        let rows = self
            .client()?
            .query_typed(
                "SELECT key, version, body FROM re_records WHERE key = ANY($1)",
                &[(&wanted, Type::TEXT_ARRAY)],
            )
            .map_err(classify)?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let key: String = row.get(0);
            let versioned = sql::versioned(&key, row.get(1), row.get(2))?;
            found.insert(key, versioned);
        }
        Ok(keys.iter().map(|k| found.get(k.as_str()).cloned()).collect())
    }

    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        let mut client: r2d2::PooledConnection<PostgresConnectionManager<NoTls>> = self.client()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query_typed(
                "SELECT key, version, body FROM re_records WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                &[(&range.start.as_str(), Type::TEXT), (&range.end.as_str(), Type::TEXT), (&limit, Type::INT8)],
            )
            .map_err(classify)?;
        rows.into_iter()
            .map(|r| {
                let key: String = r.get(0);
                let versioned = sql::versioned(&key, r.get(1), r.get(2))?;
                Ok((Key::from_stored(key), versioned))
            })
            .collect()
    }

    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_typed_opt("SELECT event, outcome FROM re_events WHERE key = $1", &[(&key.as_str(), Type::TEXT)])
            .map_err(classify)?;
        row.map(|r| {
            let (event, outcome): (String, String) = (r.get(0), r.get(1));
            sql::decode_event(key.as_str(), &event, &outcome)
        })
        .transpose()
    }

    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let a = Arrays::of(commit)?;
        let (text, int8) = (Type::TEXT_ARRAY, Type::INT8_ARRAY);
        self.client()?
            .execute_typed(
                "SELECT re_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    (&a.event_keys, text.clone()),
                    (&a.events, text.clone()),
                    (&a.outcomes, text.clone()),
                    (&a.read_keys, text.clone()),
                    (&a.read_versions, int8.clone()),
                    (&a.new_keys, text.clone()),
                    (&a.new_bodies, text.clone()),
                    (&a.changed_keys, text.clone()),
                    (&a.changed_versions, int8),
                    (&a.changed_bodies, text.clone()),
                    (&a.gone, text),
                ],
            )
            .map(drop)
            .map_err(|e| commit_failure(e, commit))
    }
}
