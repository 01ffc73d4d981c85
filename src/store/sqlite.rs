//! The SQLite store (feature `sqlite`): one file, many threads.
//!
//! Each commit runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's
//! write lock before the first read: commits are serialized by the database,
//! and version checks inside the transaction see the final word. Reads run
//! concurrently in WAL mode. A busy database is a transient error that the
//! engine retries.

use std::path::Path;

/// The driver this store is built on, re-exported so that a host's own SQL
/// against the store's file (its tables are meant to be read) uses the same
/// version.
pub use rusqlite;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use super::sql::{self, MIGRATIONS};
use super::{Commit, Key, KeyRange, Store, StoreError, Versioned, Write};
use crate::domain::id::EventKey;
use crate::event::StoredEvent;

/// How hard SQLite syncs to disk on commit (WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// Durable against a crash of the application; a power loss may lose the
    /// last commits (never corrupts), so an event answered `Ok` can vanish
    /// and be decided again on its retry. For hosts that can replay.
    Normal,
    /// Durable against power loss: syncs on every commit. The default: an
    /// answered event is a fact the host may have acted on (paid, mailed).
    #[default]
    Full,
}

/// A [`Store`] in an SQLite database.
///
/// ```
/// use referral_engine::store::sqlite::SqliteStore;
/// let store = SqliteStore::open_in_memory().unwrap();
/// store.migrate().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Busy and locked databases are passing conditions; everything else is not.
fn classify(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Transient(Box::new(e)),
        _ => backend(e),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) a database file, in WAL mode with
    /// `synchronous = FULL` (see [`Synchronous`]), with a pool of up to 8
    /// connections.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Synchronous::default(), 8)
    }

    /// Opens a database file with a chosen durability and pool size.
    pub fn open_with(path: impl AsRef<Path>, sync: Synchronous, pool_size: u32) -> Result<Self, StoreError> {
        let level = match sync {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        let manager = SqliteConnectionManager::file(path).with_init(move |c: &mut Connection| {
            c.busy_timeout(Duration::from_secs(10))?;
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", level)?;
            // Reads through a memory map and a larger page cache: a decision
            // reads a dozen records, most of them hot (profiled: pread was
            // an eighth of a batched sign-up).
            c.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
            c.pragma_update(None, "cache_size", -16 * 1024)?;
            Ok(())
        });
        let pool =
            Pool::builder().test_on_check_out(false).max_size(pool_size.max(1)).build(manager).map_err(backend)?;
        Ok(Self { pool })
    }

    /// A private in-memory database (one connection; gone when dropped).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let manager = SqliteConnectionManager::memory();
        let pool = Pool::builder().test_on_check_out(false).max_size(1).build(manager).map_err(backend)?;
        Ok(Self { pool })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        self.pool.get().map_err(backend)
    }

    /// Applies the migrations this crate version needs; returns the schema
    /// version. Safe to call on every start and from several processes.
    ///
    /// A store written by an earlier version is converted to this version's
    /// data format, or refused ([`StoreError::DataFormat`]) with nothing
    /// changed: never left half-read.
    pub fn migrate(&self) -> Result<i64, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(classify)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS re_schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")
            .map_err(classify)?;
        let current: i64 = tx
            .query_row("SELECT COALESCE(MAX(version), 0) FROM re_schema_version", [], |r| r.get(0))
            .map_err(classify)?;
        let holds_data = current > 0
            && tx
                .query_row("SELECT EXISTS (SELECT 1 FROM re_records) OR EXISTS (SELECT 1 FROM re_events)", [], |r| {
                    r.get::<_, bool>(0)
                })
                .map_err(classify)?;
        let recorded: Option<i64> = if current >= 4 {
            tx.query_row("SELECT MAX(version) FROM re_data_format", [], |r| r.get(0)).map_err(classify)?
        } else {
            None
        };
        let step = sql::format_step(current, recorded, holds_data)?;
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.execute_batch(m.sqlite).map_err(classify)?;
            tx.execute("INSERT INTO re_schema_version (version) VALUES (?1)", [m.version]).map_err(classify)?;
        }
        if step == sql::FormatStep::Upgrade {
            let mut upgrade = sql::Upgrade::default();
            let mut rewrites = Vec::new();
            {
                let mut records = tx.prepare("SELECT key, body FROM re_records").map_err(classify)?;
                let mut rows = records.query([]).map_err(classify)?;
                while let Some(row) = rows.next().map_err(classify)? {
                    let (key, body): (String, String) = (row.get(0).map_err(classify)?, row.get(1).map_err(classify)?);
                    upgrade.record(&key, &body)?;
                }
                let mut referrals = tx
                    .prepare("SELECT key, body FROM re_records WHERE key LIKE 'r/%' OR key LIKE 'x/%'")
                    .map_err(classify)?;
                let mut rows = referrals.query([]).map_err(classify)?;
                while let Some(row) = rows.next().map_err(classify)? {
                    let (key, body): (String, String) = (row.get(0).map_err(classify)?, row.get(1).map_err(classify)?);
                    if let Some(body) = upgrade.rewrite(&key, &body)? {
                        rewrites.push((key, body));
                    }
                }
            }
            for (key, body) in rewrites.iter().chain(upgrade.writes()) {
                tx.execute(
                    "INSERT INTO re_records (key, version, body) VALUES (?1, 1, ?2)
                     ON CONFLICT (key) DO UPDATE SET body = excluded.body, version = re_records.version + 1",
                    [key, body],
                )
                .map_err(classify)?;
            }
        }
        if current < sql::VIEWS_LATEST {
            tx.execute_batch(&sql::views(sql::Dialect::Sqlite)).map_err(classify)?;
        }
        if current < 5 {
            // Schema 5 renamed the events table; its rows move, each decoded.
            let mut moved = Vec::new();
            {
                let mut events = tx.prepare(sql::FORMAT_3_EVENTS).map_err(classify)?;
                let mut rows = events.query([]).map_err(classify)?;
                while let Some(row) = rows.next().map_err(classify)? {
                    let (key, event, outcome): (String, String, String) =
                        (row.get(0).map_err(classify)?, row.get(1).map_err(classify)?, row.get(2).map_err(classify)?);
                    moved.push(sql::moved_event(&key, &event, &outcome)?);
                }
            }
            for stored in &moved {
                insert_event(&tx, stored)?;
            }
            tx.execute_batch(sql::DROP_FORMAT_3_EVENTS).map_err(classify)?;
        }
        tx.execute("INSERT OR IGNORE INTO re_data_format (version) VALUES (?1)", [sql::FORMAT]).map_err(classify)?;
        tx.commit().map_err(classify)?;
        Ok(current.max(sql::latest()))
    }
}

/// A time as SQLite keeps it: RFC 3339 in UTC to the nanosecond, a fixed
/// width, so that text order is time order.
fn to_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn from_text(key: &EventKey, t: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt { key: key.to_string(), reason: format!("handled_at {t:?}: {e}") })
}

fn insert_event(conn: &Connection, stored: &StoredEvent) -> Result<(), StoreError> {
    let outcome = stored.outcome.as_ref().map(sql::encode).transpose()?;
    conn.prepare_cached("INSERT INTO re_events (key, digest, handled_at, outcome) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut s| {
            s.execute(params![stored.key.as_str(), &stored.digest.as_bytes()[..], to_text(stored.handled_at), outcome])
        })
        .map(drop)
        .map_err(classify)
}

fn row_version(conn: &Connection, key: &Key) -> Result<u64, StoreError> {
    // Cached: prepared afresh, this statement was 14% of a commit's instructions.
    let found: Option<i64> = conn
        .prepare_cached("SELECT version FROM re_records WHERE key = ?1")
        .and_then(|mut s| s.query_row([key.as_str()], |r| r.get(0)).optional())
        .map_err(classify)?;
    found.map_or(Ok(0), |v| sql::from_sql_version(key.as_str(), v))
}

fn read_record(conn: &Connection, key: &Key) -> Result<Option<Versioned>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT version, body FROM re_records WHERE key = ?1")
        .and_then(|mut s| s.query_row([key.as_str()], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(classify)?;
    row.map(|(v, body)| sql::versioned(key.as_str(), v, &body)).transpose()
}

impl Store for SqliteStore {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        read_record(&*self.conn()?, key)
    }

    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let conn = self.conn()?;
        keys.iter().map(|k| read_record(&conn, k)).collect()
    }

    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        let conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, version, body FROM re_records WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3",
            )
            .map_err(classify)?;
        let rows = stmt
            .query_map(params![range.start.as_str(), range.end.as_str(), limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(classify)?;
        let mut out = Vec::new();
        for row in rows {
            let (key, v, body) = row.map_err(classify)?;
            let versioned = sql::versioned(&key, v, &body)?;
            out.push((Key::from_stored(key), versioned));
        }
        Ok(out)
    }

    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        let conn = self.conn()?;
        let row: Option<(Vec<u8>, String, Option<String>)> = conn
            .prepare_cached("SELECT digest, handled_at, outcome FROM re_events WHERE key = ?1")
            .and_then(|mut s| s.query_row([key.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
            .map_err(classify)?;
        row.map(|(digest, at, outcome)| sql::decode_event(key, &digest, from_text(key, &at)?, outcome.as_deref()))
            .transpose()
    }

    fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        conn.prepare_cached(
            "UPDATE re_events SET outcome = NULL WHERE key IN (SELECT key FROM re_events
             WHERE outcome IS NOT NULL AND handled_at < ?1 ORDER BY handled_at LIMIT ?2)",
        )
        .and_then(|mut s| s.execute(params![to_text(before), limit]))
        .map_err(classify)
    }

    /// Under SQLite's write lock (`BEGIN IMMEDIATE`), every check sees the
    /// last word, so each statement is its own check: an event's insert
    /// fails on a used key; a written key's guarded `UPDATE` or `DELETE`
    /// must touch its one row at the version read, and an `INSERT` must not
    /// find the key; only keys read and not written are looked up. A failed
    /// check rolls the transaction back (dropped), writing nothing.
    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(classify)?;
        for stored in &commit.events {
            match insert_event(&tx, stored) {
                Err(StoreError::Backend(e)) if is_constraint(e.as_ref()) => {
                    return Err(StoreError::DuplicateEvent(stored.key.clone()));
                }
                other => other?,
            }
        }
        let written = |key: &Key| commit.writes.binary_search_by(|w| w.key().cmp(key)).is_ok();
        for (key, expected) in commit.reads.iter().filter(|(k, _)| !written(k)) {
            let found = row_version(&tx, key)?;
            if found != *expected {
                return Err(StoreError::Conflict { key: key.clone(), expected: *expected, found });
            }
        }
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO re_records (key, version, body) VALUES (?1, 1, ?2)")
                .map_err(classify)?;
            let mut update = tx
                .prepare_cached("UPDATE re_records SET version = ?2, body = ?3 WHERE key = ?1 AND version = ?4")
                .map_err(classify)?;
            let mut delete =
                tx.prepare_cached("DELETE FROM re_records WHERE key = ?1 AND version = ?2").map_err(classify)?;
            for write in &commit.writes {
                let key = write.key();
                let expected = commit.expected(key);
                let applied = match write {
                    Write::Put(_, record) => {
                        let body = sql::encode(record.as_ref())?;
                        if expected == 0 {
                            match insert.execute(params![key.as_str(), body]) {
                                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => false,
                                other => other.map_err(classify)? == 1,
                            }
                        } else {
                            let old = sql::to_sql_version(expected)?;
                            let new = sql::next_sql_version(key.as_str(), expected)?;
                            update.execute(params![key.as_str(), new, body, old]).map_err(classify)? == 1
                        }
                    }
                    // A key read as absent and deleted: still absent.
                    Write::Delete(_) if expected == 0 => row_version(&tx, key)? == 0,
                    Write::Delete(_) => {
                        let old = sql::to_sql_version(expected)?;
                        delete.execute(params![key.as_str(), old]).map_err(classify)? == 1
                    }
                };
                if !applied {
                    return Err(StoreError::Conflict { key: key.clone(), expected, found: row_version(&tx, key)? });
                }
            }
        }
        tx.commit().map_err(classify)
    }
}

/// Whether a failure is a violated constraint (a key taken).
fn is_constraint(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<rusqlite::Error>().and_then(rusqlite::Error::sqlite_error_code)
        == Some(ErrorCode::ConstraintViolation)
}
