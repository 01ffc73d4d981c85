//! The in-memory store: as strict as the SQL ones, under one lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Commit, Key, KeyRange, Store, StoreError, Versioned, Write};
use crate::domain::id::EventKey;
use crate::event::{EventDigest, Outcome, StoredEvent};

/// Records in memory, shared safely between threads.
///
/// A commit's preconditions (no event under its key; every read version
/// current) are checked and its writes applied under one lock, so it is
/// exactly as strict as an SQL store.
///
/// ```
/// use referral_engine::MemoryStore;
/// let store = MemoryStore::new();
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<Key, Versioned>,
    /// Every event key with what is kept of its event.
    events: HashMap<EventKey, Kept>,
    /// The events whose outcome is still kept, oldest first.
    outcomes: BTreeSet<(DateTime<Utc>, EventKey)>,
}

/// What is kept under an event key: 48 bytes once the outcome is forgotten.
#[derive(Debug)]
struct Kept {
    digest: EventDigest,
    handled_at: DateTime<Utc>,
    /// Boxed: an outcome is large, and most entries have none.
    outcome: Option<Box<Outcome>>,
}

impl Kept {
    fn stored(&self, key: &EventKey) -> StoredEvent {
        let outcome = self.outcome.as_deref().cloned();
        StoredEvent { key: key.clone(), digest: self.digest, handled_at: self.handled_at, outcome }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave a half-applied commit: commits are
        // validated before the first write and writes cannot fail.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether it holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record and stored event, for inspection and tests.
    pub fn dump(&self) -> (Vec<(Key, Versioned)>, Vec<StoredEvent>) {
        let inner = self.lock();
        let records = inner.records.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut events: Vec<StoredEvent> = inner.events.iter().map(|(k, e)| e.stored(k)).collect();
        events.sort_by(|a, b| a.key.cmp(&b.key));
        (records, events)
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        Ok(self.lock().records.get(key).cloned())
    }

    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let inner = self.lock();
        Ok(keys.iter().map(|k| inner.records.get(k).cloned()).collect())
    }

    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.lock();
        Ok(inner
            .records
            .range(range.start.clone()..range.end.clone())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.lock().events.get(key).map(|e| e.stored(key)))
    }

    fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let Inner { events, outcomes, .. } = &mut *inner;
        let mut forgotten = 0;
        while forgotten < limit {
            match outcomes.first() {
                Some((at, _)) if *at < before => {}
                _ => break,
            }
            if let Some((_, key)) = outcomes.pop_first() {
                if let Some(e) = events.get_mut(&key) {
                    e.outcome = None;
                }
                forgotten = forgotten.saturating_add(1);
            }
        }
        Ok(forgotten)
    }

    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(key) = commit.keys().find(|k| inner.events.contains_key(*k)) {
            return Err(StoreError::DuplicateEvent(key.clone()));
        }
        for (key, expected) in &commit.reads {
            let found = inner.records.get(key).map_or(0, |v| v.version);
            if found != *expected {
                return Err(StoreError::Conflict { key: key.clone(), expected: *expected, found });
            }
        }
        for write in &commit.writes {
            match write {
                Write::Put(key, record) => {
                    let version = commit.expected(key).checked_add(1).ok_or_else(|| StoreError::Corrupt {
                        key: key.to_string(),
                        reason: "version at its maximum".into(),
                    })?;
                    inner.records.insert(key.clone(), Versioned { version, record: record.clone() });
                }
                Write::Delete(key) => {
                    inner.records.remove(key);
                }
            }
        }
        for stored in &commit.events {
            if stored.outcome.is_some() {
                inner.outcomes.insert((stored.handled_at, stored.key.clone()));
            }
            let outcome = stored.outcome.clone().map(Box::new);
            let kept = Kept { digest: stored.digest, handled_at: stored.handled_at, outcome };
            inner.events.insert(stored.key.clone(), kept);
        }
        Ok(())
    }
}
