//! Storage: the [`Store`] trait, its contract, and the stores that implement it.
//!
//! # The shape: decide outside, commit inside
//!
//! The engine never holds a transaction open across this trait. For one event
//! it reads the records it needs ([`Store::get`], [`Store::scan`]), each with
//! its version; decides, purely, what changes; and hands the store one
//! [`Commit`]: the versions it read, the records it writes, the event and its
//! outcome (or, for a batch, every accepted event of the batch and theirs).
//! The store applies the commit atomically if and only if
//!
//! 1. no event was stored under any of the commit's event keys before
//!    (else [`StoreError::DuplicateEvent`]), and
//! 2. every key in [`Commit::reads`] still has the version that was read,
//!    `0` meaning "absent" (else [`StoreError::Conflict`]).
//!
//! On a conflict the engine reads again and decides again. A commit either
//! takes effect whole or not at all; nothing is written on any error.
//!
//! Stores: [`MemoryStore`] (default), `SqliteStore` (feature `sqlite`),
//! `PostgresStore` (feature `postgres`). Each passes the same conformance
//! suite (feature `testkit`).

mod asynchronous;
pub(crate) mod backoff;
mod key;
mod memory;
mod record;
pub mod schema;
pub(crate) mod snapshot;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "sqlx-postgres"))]
mod format4;
#[cfg(feature = "sqlx-postgres")]
pub mod pg;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "sqlx-postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "tokio")]
pub use asynchronous::Blocking;
pub use asynchronous::{AsyncStore, Turn};
pub use key::{Key, KeyRange};
pub(crate) use key::{RecordKey, RecordRange};
pub use memory::MemoryStore;
pub use record::Record;
pub(crate) use record::RecordKind;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::id::EventKey;
use crate::event::StoredEvent;

/// A record with the version it was read at (versions start at 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The version.
    pub version: u64,
    /// The record, shared: a store may hand out the copy it holds.
    pub record: Arc<Record>,
}

/// One write of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// Store the record under the key, at the read version plus one.
    Put(Key, Arc<Record>),
    /// Remove the key.
    Delete(Key),
}

impl Write {
    /// The key written.
    pub fn key(&self) -> &Key {
        match self {
            Write::Put(k, _) | Write::Delete(k) => k,
        }
    }
}

/// Everything one event (or one batch of events) changes, with the
/// preconditions under which it may.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Commit {
    /// The events with their outcomes, each stored under its key for
    /// idempotency (for ever) and its outcome returned again on a replay
    /// (within the retention window). Their keys are distinct.
    pub events: Vec<StoredEvent>,
    /// Each key read and the version seen (0: absent). Sorted by key. Every
    /// written key is among them.
    pub reads: Vec<(Key, u64)>,
    /// The writes, sorted by key.
    pub writes: Vec<Write>,
}

impl Commit {
    /// The version a read key was expected at.
    pub fn expected(&self, key: &Key) -> u64 {
        self.reads.binary_search_by(|(k, _)| k.cmp(key)).ok().and_then(|i| self.reads.get(i)).map_or(0, |(_, v)| *v)
    }

    /// The keys of its events.
    pub fn keys(&self) -> impl Iterator<Item = &EventKey> {
        self.events.iter().map(|e| &e.key)
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record read for the commit changed before it applied: decide again.
    #[error("record {key} changed since it was read (expected version {expected}, found {found})")]
    Conflict {
        /// The key.
        key: Key,
        /// The version read.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// An event was already stored under one of the commit's event keys.
    #[error("event {0} was already stored")]
    DuplicateEvent(EventKey),
    /// A stored record could not be read back.
    #[error("record {key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A passing failure that a fresh attempt may not meet (a serialization
    /// failure, a deadlock, a busy database). The engine decides again.
    #[error("transient storage failure; the event can be retried")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend failed (I/O, connection, SQL); the source is kept.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The host's transaction runs at an isolation level under which the
    /// commit is not sound (`REPEATABLE READ`): nothing was written; run the
    /// transaction at `READ COMMITTED` or `SERIALIZABLE`.
    #[error(
        "the transaction's isolation level is {level}, under which a commit is not sound: use READ COMMITTED or SERIALIZABLE"
    )]
    Isolation {
        /// The level found.
        level: &'static str,
    },
    /// `migrate()` found records in a data format this version of the crate
    /// cannot read or convert: nothing was changed, and nothing should read
    /// the store with this version.
    #[error("this store holds data in format {found}, which this version (format {supported}) cannot use: {what}")]
    DataFormat {
        /// The store's data format.
        found: i64,
        /// The format this version reads and writes.
        supported: i64,
        /// Why, and what to do.
        what: String,
    },
}

/// A place the engine keeps its records.
///
/// Implementations must be safe to share between threads, and each method's
/// contract holds under any concurrency:
///
/// * [`get`](Store::get) and [`scan`](Store::scan) return committed records
///   with their current versions. They need not be a consistent snapshot
///   across calls: the commit's version checks catch any change.
/// * [`commit`](Store::commit) is atomic: all of it or none of it, checked and
///   applied as one unit against every other commit.
/// * [`stored_event`](Store::stored_event) returns what a successful commit
///   stored under that key, its outcome until
///   [`forget_outcomes`](Store::forget_outcomes) forgot it.
///
/// The `testkit` feature's conformance suite checks all of it.
pub trait Store: Send + Sync {
    /// The record under `key`, if any.
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError>;

    /// The records under `keys`, in the same order (`None`: absent): what
    /// [`get`](Store::get) gives for each, in one call (one round trip on
    /// PostgreSQL). The default asks `get` for each key.
    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Up to `limit` records in `range`, in key order.
    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError>;

    /// What is stored under an idempotency key: the key, the payload's
    /// digest, when it was handled and (unless forgotten) its outcome.
    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError>;

    /// Forgets the outcomes of up to `limit` events handled before
    /// `before`, oldest first; returns how many. Their keys and digests
    /// stay: a second commit under a key still fails, and a replay still
    /// tells the same event from another. Idempotent, and never part of a
    /// commit: the engine answers a replay past the window the same way
    /// whether or not the outcome is still there.
    fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError>;

    /// Applies a commit atomically, or fails with
    /// [`DuplicateEvent`](StoreError::DuplicateEvent) or
    /// [`Conflict`](StoreError::Conflict) having written nothing.
    fn commit(&self, commit: &Commit) -> Result<(), StoreError>;
}

/// A shared or borrowed store is a store: every method forwards.
macro_rules! forward_store {
    ($($pointer:ty),*) => {$(
        impl<S: Store + ?Sized> Store for $pointer {
            fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
                (**self).get(key)
            }
            fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
                (**self).get_many(keys)
            }
            fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
                (**self).scan(range, limit)
            }
            fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
                (**self).stored_event(key)
            }
            fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
                (**self).forget_outcomes(before, limit)
            }
            fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
                (**self).commit(commit)
            }
        }
    )*};
}

forward_store!(std::sync::Arc<S>, &S);
