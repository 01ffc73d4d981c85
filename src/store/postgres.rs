//! The PostgreSQL store (feature `postgres`): many app servers, one database.
//!
//! Commits run at `READ COMMITTED` and lock what they depend on:
//!
//! 1. the event's idempotency row is inserted first; a twin committing the
//!    same key concurrently waits on that row and then fails with a unique
//!    violation (`23505`), answered as [`StoreError::DuplicateEvent`];
//! 2. every record read at a version is locked (`SELECT ... ORDER BY key FOR
//!    UPDATE`) and its version compared; a record read as absent and written
//!    is inserted, and a concurrent insert of the same key fails with `23505`,
//!    answered as [`StoreError::Conflict`];
//! 3. the writes are applied and the transaction commits.
//!
//! Deadlocks (`40P01`) and serialization failures (`40001`) are transient:
//! the engine decides again. Errors are classified by SQLSTATE, never by text.

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{NoTls, Transaction};
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

/// Applies a commit inside `tx` in a fixed number of round trips, whatever
/// the number of events and records: the event rows, the version checks
/// (locking what exists), then one statement each for inserts, updates and
/// deletes.
fn apply(tx: &mut Transaction<'_>, commit: &Commit) -> Result<(), StoreError> {
    let keys: Vec<&str> = commit.keys().map(|k| k.as_str()).collect();
    let (mut events, mut outcomes) = (Vec::with_capacity(keys.len()), Vec::with_capacity(keys.len()));
    for stored in &commit.events {
        events.push(sql::encode(&stored.event)?);
        outcomes.push(sql::encode(&stored.outcome)?);
    }
    // A key stored before (or by a concurrent commit) is skipped, not an
    // error, so that the reply names which one it was.
    let inserted = tx
        .query_typed(
            "INSERT INTO re_events (key, event, outcome)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT (key) DO NOTHING RETURNING key",
            &[(&keys, Type::TEXT_ARRAY), (&events, Type::TEXT_ARRAY), (&outcomes, Type::TEXT_ARRAY)],
        )
        .map_err(classify)?;
    if inserted.len() != keys.len() {
        let fresh: std::collections::HashSet<String> = inserted.iter().map(|r| r.get(0)).collect();
        if let Some(taken) = commit.keys().find(|k| !fresh.contains(k.as_str())) {
            return Err(StoreError::DuplicateEvent(taken.clone()));
        }
    }
    let present: Vec<&str> = commit.reads.iter().filter(|(_, v)| *v > 0).map(|(k, _)| k.as_str()).collect();
    let absent: Vec<&str> = commit.reads.iter().filter(|(_, v)| *v == 0).map(|(k, _)| k.as_str()).collect();
    let rows = tx
        .query_typed(
            "SELECT key, version FROM re_records WHERE key = ANY($1) ORDER BY key FOR UPDATE",
            &[(&present, Type::TEXT_ARRAY)],
        )
        .map_err(classify)?;
    let appeared = if absent.is_empty() {
        vec![]
    } else {
        tx.query_typed("SELECT key, version FROM re_records WHERE key = ANY($1)", &[(&absent, Type::TEXT_ARRAY)])
            .map_err(classify)?
    };
    let mut found = std::collections::HashMap::with_capacity(rows.len() + appeared.len());
    for row in rows.iter().chain(&appeared) {
        let key: String = row.get(0);
        let version = sql::from_sql_version(&key, row.get(1))?;
        found.insert(key, version);
    }
    for (key, expected) in &commit.reads {
        let now = found.get(key.as_str()).copied().unwrap_or(0);
        if now != *expected {
            return Err(StoreError::Conflict { key: key.clone(), expected: *expected, found: now });
        }
    }
    let (mut new_keys, mut new_bodies) = (Vec::new(), Vec::new());
    let (mut keys, mut versions, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
    let mut gone = Vec::new();
    for write in &commit.writes {
        match write {
            Write::Put(key, record) => {
                let body = sql::encode(record.as_ref())?;
                match commit.expected(key) {
                    0 => {
                        new_keys.push(key.as_str());
                        new_bodies.push(body);
                    }
                    expected => {
                        keys.push(key.as_str());
                        versions.push(sql::to_sql_version(expected + 1)?);
                        bodies.push(body);
                    }
                }
            }
            Write::Delete(key) => gone.push(key.as_str()),
        }
    }
    if !new_keys.is_empty() {
        let inserted = tx.execute_typed(
            "INSERT INTO re_records (key, version, body) SELECT k, 1, b FROM UNNEST($1::text[], $2::text[]) AS t(k, b)",
            &[(&new_keys, Type::TEXT_ARRAY), (&new_bodies, Type::TEXT_ARRAY)],
        );
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                let key = new_keys.first().map_or_else(String::new, |k| (*k).to_owned());
                return Err(StoreError::Conflict { key: Key::from_stored(key), expected: 0, found: 1 });
            }
            other => other.map_err(classify)?,
        };
    }
    if !keys.is_empty() {
        tx.execute_typed(
            "UPDATE re_records r SET version = t.v, body = t.b
             FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS t(k, v, b) WHERE r.key = t.k",
            &[(&keys, Type::TEXT_ARRAY), (&versions, Type::INT8_ARRAY), (&bodies, Type::TEXT_ARRAY)],
        )
        .map_err(classify)?;
    }
    if !gone.is_empty() {
        tx.execute_typed("DELETE FROM re_records WHERE key = ANY($1)", &[(&gone, Type::TEXT_ARRAY)])
            .map_err(classify)?;
    }
    Ok(())
}

impl Store for PostgresStore {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_typed_opt("SELECT version, body FROM re_records WHERE key = $1", &[(&key.as_str(), Type::TEXT)])
            .map_err(classify)?;
        row.map(|r| {
            let body: String = r.get(1);
            Ok(Versioned {
                version: sql::from_sql_version(key.as_str(), r.get(0))?,
                record: std::sync::Arc::new(sql::decode_record(key.as_str(), &body)?),
            })
        })
        .transpose()
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
                let body: String = r.get(2);
                let versioned = Versioned {
                    version: sql::from_sql_version(&key, r.get(1))?,
                    record: std::sync::Arc::new(sql::decode_record(&key, &body)?),
                };
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
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(classify)?;
        apply(&mut tx, commit)?;
        tx.commit().map_err(classify)
    }
}
