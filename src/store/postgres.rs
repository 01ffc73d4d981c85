//! The PostgreSQL store (feature `postgres`): many app servers, one database.
//!
//! A commit is one statement, `SELECT re_commit(...)` (a PL/pgSQL function
//! the migrations create, in `migrations/`), so one round trip and one
//! implicit transaction at `READ COMMITTED`. It locks what it depends on:
//!
//! 1. the events' idempotency rows are inserted first; a key stored before,
//!    or by a twin committing concurrently (this commit waits for it), makes
//!    the function raise `RE001`, answered as [`StoreError::DuplicateEvent`];
//! 2. every existing row read or written is locked (`FOR UPDATE`, in key
//!    order), then every version read is compared (`RE002`:
//!    [`StoreError::Conflict`]); a key read as absent gets a placeholder row
//!    for the rest of the commit, so a concurrent insert of it waits and then
//!    conflicts. A key read as absent therefore stays absent until this
//!    commit ends, as the [`Store`] contract asks. Every lock lives in a
//!    tuple: a commit of any size needs no entry in the server's shared lock
//!    table;
//! 3. the writes are applied. Any error rolls the whole statement back.
//!
//! Deadlocks (`40P01`), serialization failures (`40001`), lost or refused
//! connections (class `08`, `57P0x`, a closed client, I/O, no connection
//! from the pool in time) and a server short of resources (class `53`) are
//! transient ([`StoreError::Transient`]): nothing was applied, or the event
//! key makes the retry safe. Errors are classified by SQLSTATE, never by text.
//!
//! The function resolves its tables in the schema it was created in, whatever
//! the caller's `search_path`. With a [schema](PostgresBuilder::schema), each
//! connection sets its `search_path` when the pool opens it; the URL's own
//! `options` are kept.
//!
//! # TLS
//!
//! With the feature `postgres-tls`, [`PostgresBuilder::tls`] takes a rustls
//! configuration (ring as the crypto provider, so it builds with cargo alone)
//! and requires TLS on every connection. Without it, connections are plain:
//! a URL with `sslmode=require` fails to connect rather than fall back, and
//! the default `sslmode=prefer` means plain text.

use postgres::NoTls;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::Type;
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use super::sql::{self, Arrays, EventArrays, MIGRATIONS};
use super::{Commit, Key, KeyRange, Store, StoreError, Versioned};
use crate::domain::id::EventKey;
use crate::event::StoredEvent;

/// The driver this store is built on, re-exported so that a host's own SQL
/// against the store's database (its tables are meant to be read) uses the
/// same version.
pub use postgres;
#[cfg(feature = "postgres-tls")]
pub use rustls;
#[cfg(feature = "postgres-tls")]
use tokio_postgres_rustls::MakeRustlsConnect;

/// A [`Store`] in a PostgreSQL database, through a pool of connections.
///
/// [`connect`](Self::connect) for the defaults, [`builder`](Self::builder)
/// for a schema of its own, a pool size or TLS.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: std::sync::Arc<Pooled>,
}

/// The pool, dropped off any tokio runtime thread (see [`off_runtime`]).
#[derive(Debug)]
struct Pooled(Option<Connections>);

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            off_runtime(move || drop(pool));
        }
    }
}

/// Runs `call` where the sync client may block: here, or, on a thread of a
/// tokio runtime (where the client's own runtime would panic, and a panic
/// while dropping a connection would abort the process), on a scoped
/// thread of its own, waited for. So the store can be built, used and
/// dropped inside an async host; [`PgStore`](super::pg::PgStore) (feature
/// `sqlx-postgres`) is the store such a host should use.
fn off_runtime<R: Send>(call: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return call();
    }
    std::thread::scope(|scope| match scope.spawn(call).join() {
        Ok(done) => done,
        Err(panicked) => std::panic::resume_unwind(panicked),
    })
}

/// The pool, by how its connections are secured.
#[derive(Clone)]
enum Connections {
    Plain(Pool<PostgresConnectionManager<NoTls>>),
    #[cfg(feature = "postgres-tls")]
    Tls(Pool<PostgresConnectionManager<MakeRustlsConnect>>),
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (tls, state) = match self {
            Connections::Plain(pool) => ("none", pool.state()),
            #[cfg(feature = "postgres-tls")]
            Connections::Tls(pool) => ("rustls", pool.state()),
        };
        f.debug_struct("Connections")
            .field("tls", &tls)
            .field("connections", &state.connections)
            .field("idle", &state.idle_connections)
            .finish()
    }
}

/// A connection taken from either pool.
enum Connection {
    Plain(PooledConnection<PostgresConnectionManager<NoTls>>),
    #[cfg(feature = "postgres-tls")]
    Tls(PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>),
}

impl std::ops::Deref for Connection {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        match self {
            Connection::Plain(c) => c,
            #[cfg(feature = "postgres-tls")]
            Connection::Tls(c) => c,
        }
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        match self {
            Connection::Plain(c) => c,
            #[cfg(feature = "postgres-tls")]
            Connection::Tls(c) => c,
        }
    }
}

/// Sets each new connection's `search_path` to the store's schema, so that
/// the URL's own `options` (a `statement_timeout`, say) are kept as given.
#[derive(Debug)]
struct InSchema(String);

impl r2d2::CustomizeConnection<postgres::Client, postgres::Error> for InSchema {
    fn on_acquire(&self, client: &mut postgres::Client) -> Result<(), postgres::Error> {
        client.batch_execute(&format!("SET search_path TO {}", self.0))
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A failure after which the same commit may succeed: a serialization
/// failure or deadlock, a connection lost or refused (closed by the server, a
/// proxy or a failover; class 08; `admin_shutdown` and its kin, 57P0x), or a
/// server short of resources (class 53: too many connections, out of
/// memory). Nothing of the commit is applied then, or its event key makes the
/// retry safe. Everything else (a syntax error, a missing table, a violated
/// constraint) needs a person.
fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let Some(code) = e.code() else {
        // No SQLSTATE: the client's side (I/O on the socket, a lost connection).
        return std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    };
    let code = code.code();
    code == SqlState::T_R_SERIALIZATION_FAILURE.code()
        || code == SqlState::T_R_DEADLOCK_DETECTED.code()
        || code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P0")
}

fn classify(e: postgres::Error) -> StoreError {
    if is_transient(&e) { StoreError::Transient(Box::new(e)) } else { backend(e) }
}

/// How to connect a [`PostgresStore`]: the URL, and optionally a schema, a
/// pool size and TLS.
///
/// ```no_run
/// # use referral_engine::store::postgres::PostgresStore;
/// let store = PostgresStore::builder("postgres://app@db.internal/app")
///     .schema("referrals")
///     .pool_size(16)
///     .connect()?;
/// store.migrate()?;
/// # Ok::<(), referral_engine::store::StoreError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct PostgresBuilder {
    url: String,
    schema: Option<String>,
    pool_size: u32,
    #[cfg(feature = "postgres-tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl PostgresBuilder {
    /// Keeps the tables in `schema` (created if missing) rather than in the
    /// connection's default schema. Any name PostgreSQL accepts as a quoted
    /// identifier, except one holding `"` or a NUL.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The most connections the pool opens (default 8; at least 1).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// Encrypts every connection with TLS, the server authenticated by
    /// `config` (its root certificates). TLS is then required, whatever the
    /// URL's `sslmode`: a server that does not offer it is an error, never a
    /// silent fall back to plain text.
    ///
    /// ```no_run
    /// # use referral_engine::store::postgres::{PostgresStore, rustls};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pem = std::fs::read("/etc/ssl/certs/db-ca.pem")?;
    /// let mut roots = rustls::RootCertStore::empty();
    /// for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
    ///     roots.add(cert?)?;
    /// }
    /// let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let store = PostgresStore::builder("postgres://app@db.internal/app").tls(config).connect()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "postgres-tls")]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(std::sync::Arc::new(config));
        self
    }

    /// Opens the pool (and the schema, if one was named).
    pub fn connect(self) -> Result<PostgresStore, StoreError> {
        off_runtime(|| self.connect_here())
    }

    fn connect_here(self) -> Result<PostgresStore, StoreError> {
        #[cfg_attr(not(feature = "postgres-tls"), allow(unused_mut))]
        let mut config: postgres::Config = self.url.parse().map_err(backend)?;
        let schema = self.schema.as_deref().map(quoted).transpose()?;
        #[cfg(feature = "postgres-tls")]
        if let Some(tls) = self.tls {
            config.ssl_mode(postgres::config::SslMode::Require);
            let tls = MakeRustlsConnect::new(std::sync::Arc::unwrap_or_clone(tls));
            if let Some(schema) = &schema {
                create_schema(config.connect(tls.clone()).map_err(backend)?, schema)?;
            }
            let manager = PostgresConnectionManager::new(config, tls);
            return Ok(PostgresStore::over(Connections::Tls(pool(manager, self.pool_size, schema)?)));
        }
        if let Some(schema) = &schema {
            create_schema(config.connect(NoTls).map_err(backend)?, schema)?;
        }
        let manager = PostgresConnectionManager::new(config, NoTls);
        Ok(PostgresStore::over(Connections::Plain(pool(manager, self.pool_size, schema)?)))
    }
}

/// A pool of `size` connections, each set to `schema` when there is one.
fn pool<M>(manager: M, size: u32, schema: Option<String>) -> Result<Pool<M>, StoreError>
where
    M: r2d2::ManageConnection<Connection = postgres::Client, Error = postgres::Error>,
{
    let builder = Pool::builder().test_on_check_out(false).max_size(size);
    let builder = match schema {
        Some(schema) => builder.connection_customizer(Box::new(InSchema(schema))),
        None => builder,
    };
    builder.build(manager).map_err(backend)
}

/// A schema name as a quoted identifier, or an error if no quoting can hold it.
fn quoted(schema: &str) -> Result<String, StoreError> {
    if schema.is_empty() || schema.len() > 63 || schema.contains(['"', '\0']) {
        return Err(StoreError::Backend("a schema name must be 1 to 63 bytes without '\"' or NUL".into()));
    }
    Ok(format!("\"{schema}\""))
}

/// Creates the schema unless it exists (so that a read-only connection to an
/// existing schema connects).
fn create_schema(mut client: postgres::Client, quoted: &str) -> Result<(), StoreError> {
    let name = quoted.trim_matches('"');
    let exists = client
        .query_typed_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[(&name, Type::TEXT)])
        .map_err(classify)?
        .is_some();
    if exists {
        Ok(())
    } else {
        client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {quoted}")).map_err(classify)
    }
}

impl PostgresStore {
    /// Connects with a URL (`postgres://user@host/db`): the connection's
    /// default schema, a pool of up to 8 connections, no TLS.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder(url).connect()
    }

    /// A builder for a schema, a pool size or TLS.
    pub fn builder(url: impl Into<String>) -> PostgresBuilder {
        PostgresBuilder {
            url: url.into(),
            schema: None,
            pool_size: 8,
            #[cfg(feature = "postgres-tls")]
            tls: None,
        }
    }

    fn over(pool: Connections) -> Self {
        Self { pool: std::sync::Arc::new(Pooled(Some(pool))) }
    }

    fn client(&self) -> Result<Connection, StoreError> {
        let Some(pool) = &self.pool.0 else { return Err(StoreError::Backend("the pool is gone".into())) };
        match pool {
            Connections::Plain(pool) => pool.get().map(Connection::Plain),
            #[cfg(feature = "postgres-tls")]
            Connections::Tls(pool) => pool.get().map(Connection::Tls),
        }
        // No connection within the pool's timeout: the server is down or
        // busy, or every connection is taken; a later try may find one.
        .map_err(|e| StoreError::Transient(Box::new(e)))
    }

    /// Applies the migrations this crate version needs; returns the schema
    /// version. Concurrent callers are serialized by an advisory lock.
    ///
    /// A store written by an earlier version is converted to this version's
    /// data format, or refused ([`StoreError::DataFormat`]) with nothing
    /// changed: never left half-read.
    pub fn migrate(&self) -> Result<i64, StoreError> {
        off_runtime(|| self.migrate_here())
    }

    fn migrate_here(&self) -> Result<i64, StoreError> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(classify)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7243001);
             CREATE TABLE IF NOT EXISTS re_schema_version (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());",
        )
        .map_err(classify)?;
        let current: i64 =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM re_schema_version", &[]).map_err(classify)?.get(0);
        let holds_data = current > 0
            && tx
                .query_one("SELECT EXISTS (SELECT 1 FROM re_records) OR EXISTS (SELECT 1 FROM re_events)", &[])
                .map_err(classify)?
                .get::<_, bool>(0);
        let recorded: Option<i64> = if current >= 4 {
            tx.query_one("SELECT MAX(version) FROM re_data_format", &[]).map_err(classify)?.get(0)
        } else {
            None
        };
        let step = sql::format_step(current, recorded, holds_data)?;
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.batch_execute(m.postgres).map_err(classify)?;
            tx.execute("INSERT INTO re_schema_version (version) VALUES ($1)", &[&m.version]).map_err(classify)?;
        }
        if step == sql::FormatStep::Upgrade {
            let mut upgrade = sql::Upgrade::default();
            let none: [&str; 0] = [];
            let mut rows = tx.query_raw("SELECT key, body FROM re_records", none).map_err(classify)?;
            while let Some(row) = rows.next().map_err(classify)? {
                upgrade.record(row.get(0), row.get(1))?;
            }
            drop(rows);
            let referrals = "SELECT key, body FROM re_records WHERE key LIKE 'r/%' OR key LIKE 'x/%'";
            let mut rewrites = Vec::new();
            let mut rows = tx.query_raw(referrals, none).map_err(classify)?;
            while let Some(row) = rows.next().map_err(classify)? {
                let key: String = row.get(0);
                if let Some(body) = upgrade.rewrite(&key, row.get(1))? {
                    rewrites.push((key, body));
                }
            }
            drop(rows);
            for (key, body) in rewrites.iter().chain(upgrade.writes()) {
                tx.execute(
                    "INSERT INTO re_records (key, version, body) VALUES ($1, 1, $2)
                     ON CONFLICT (key) DO UPDATE SET body = excluded.body, version = re_records.version + 1",
                    &[key, body],
                )
                .map_err(classify)?;
            }
        }
        if current < sql::VIEWS_LATEST {
            tx.batch_execute(&sql::views(sql::Dialect::Postgres)).map_err(classify)?;
        }
        if current < 5 {
            // Schema 5 renamed the events table; its rows move, each decoded.
            let none: [&str; 0] = [];
            let mut moved = Vec::new();
            let mut rows = tx.query_raw(sql::FORMAT_3_EVENTS, none).map_err(classify)?;
            while let Some(row) = rows.next().map_err(classify)? {
                moved.push(sql::moved_event(row.get(0), row.get(1), row.get(2))?);
            }
            drop(rows);
            for chunk in moved.chunks(1_000) {
                let a = EventArrays::of(chunk)?;
                tx.execute(
                    "INSERT INTO re_events (key, digest, handled_at, outcome) SELECT * FROM unnest($1::text[], $2::bytea[], $3::timestamptz[], $4::text[])",
                    &[&a.keys, &a.digests, &a.handled, &a.outcomes],
                )
                .map_err(classify)?;
            }
            tx.batch_execute(sql::DROP_FORMAT_3_EVENTS).map_err(classify)?;
        }
        tx.execute("INSERT INTO re_data_format (version) VALUES ($1) ON CONFLICT DO NOTHING", &[&sql::FORMAT])
            .map_err(classify)?;
        tx.commit().map_err(classify)?;
        Ok(current.max(sql::latest()))
    }

    /// Removes every record and event (for tests).
    pub fn clear(&self) -> Result<(), StoreError> {
        off_runtime(|| self.client()?.batch_execute("TRUNCATE re_records, re_events").map_err(classify))
    }
}

/// The answer to a failed `re_commit`: what [`sql::commit_failure`] makes
/// of its SQLSTATE, else what [`classify`] makes of it.
fn commit_failure(e: postgres::Error, commit: &Commit) -> StoreError {
    let Some(db) = e.as_db_error() else { return classify(e) };
    match sql::commit_failure(db.code().code(), db.message(), db.detail(), commit) {
        Some(answer) => answer,
        None => classify(e),
    }
}

/// The store's calls as made where blocking is allowed (see [`off_runtime`]).
impl PostgresStore {
    fn get_here(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_typed_opt("SELECT version, body FROM re_records WHERE key = $1", &[(&key.as_str(), Type::TEXT)])
            .map_err(classify)?;
        row.map(|r| sql::versioned(key.as_str(), r.get(0), r.get(1))).transpose()
    }

    fn get_many_here(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
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

    fn scan_here(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        let mut client = self.client()?;
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

    fn stored_event_here(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_typed_opt(
                "SELECT digest, handled_at, outcome FROM re_events WHERE key = $1",
                &[(&key.as_str(), Type::TEXT)],
            )
            .map_err(classify)?;
        row.map(|r| {
            let outcome: Option<&str> = r.get(2);
            sql::decode_event(key, r.get(0), r.get(1), outcome)
        })
        .transpose()
    }

    fn forget_outcomes_here(&self, before: chrono::DateTime<chrono::Utc>, limit: usize) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let forgotten = self
            .client()?
            .execute_typed(
                "UPDATE re_events SET outcome = NULL WHERE key IN (SELECT key FROM re_events
                 WHERE outcome IS NOT NULL AND handled_at < $1 ORDER BY handled_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[(&before, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
            )
            .map_err(classify)?;
        Ok(usize::try_from(forgotten).unwrap_or(usize::MAX))
    }

    fn commit_here(&self, commit: &Commit) -> Result<(), StoreError> {
        let a = Arrays::of(commit)?;
        let (text, int8) = (Type::TEXT_ARRAY, Type::INT8_ARRAY);
        self.client()?
            .execute_typed(
                "SELECT re_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    (&a.events.keys, text.clone()),
                    (&a.events.digests, Type::BYTEA_ARRAY),
                    (&a.events.handled, Type::TIMESTAMPTZ_ARRAY),
                    (&a.events.outcomes, text.clone()),
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

impl Store for PostgresStore {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        off_runtime(|| self.get_here(key))
    }
    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        off_runtime(|| self.get_many_here(keys))
    }
    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        off_runtime(|| self.scan_here(range, limit))
    }
    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        off_runtime(|| self.stored_event_here(key))
    }
    fn forget_outcomes(&self, before: chrono::DateTime<chrono::Utc>, limit: usize) -> Result<usize, StoreError> {
        off_runtime(|| self.forget_outcomes_here(before, limit))
    }
    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        off_runtime(|| self.commit_here(commit))
    }
}
