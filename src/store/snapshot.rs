//! Deciding with no store call: a decision against a [`Snapshot`] of the
//! records a driver has fetched, and nothing else.
//!
//! A read the snapshot cannot answer is not made: the snapshot notes what is
//! missing ([`Needs`]) and the decision stops. The driver fetches what was
//! named, all of it in one round where it can, and decides again from the
//! start on the larger snapshot, until the decision finishes. The decision
//! code is the one [`Engine::handle`](crate::Engine::handle) runs; only where
//! its reads are answered differs. So a driver that cannot block (an async
//! host fetching over its own pool) needs no decision logic of its own.
//!
//! The sync engine reads its store as the decision asks instead: against a
//! local store a read costs less than deciding again would.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use crate::domain::code::RandomSource;
use crate::domain::id::EventKey;
use crate::event::StoredEvent;
use crate::store::{Commit, Key, KeyRange, Store, StoreError, Versioned};

/// What a decision against a snapshot still needs before it can finish.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Needs {
    /// Records, by key: fetch them in one call ([`Store::get_many`]).
    pub keys: Vec<Key>,
    /// Ranges, with the most records to read from each ([`Store::scan`]).
    pub scans: Vec<(KeyRange, usize)>,
    /// Idempotency records, by event key ([`Store::stored_event`]).
    pub events: Vec<EventKey>,
}

impl Needs {
    /// Whether nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.scans.is_empty() && self.events.is_empty()
    }
}

/// The marker a snapshot answers a read it cannot make with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("the record is not in the snapshot")]
pub(crate) struct NotInSnapshot;

impl NotInSnapshot {
    /// Whether `e` is this marker.
    pub(crate) fn is(e: &StoreError) -> bool {
        matches!(e, StoreError::Backend(source) if source.is::<NotInSnapshot>())
    }
}

/// The records, ranges and idempotency records a driver fetched, each as the
/// store had it; a read of anything else is noted as needed.
///
/// A decision decided again must come to the same end, so the snapshot also
/// pins what is not a record: the decision's time, and the random draws an
/// earlier run made (a new code is drawn once, not once per run).
///
/// ```
/// use referral_engine::engine::{Snapshot, Step};
/// use referral_engine::{Engine, Event, MemoryStore, ParticipantId, ProgramSpec, Store};
/// use referral_engine::event::Enroll;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec: ProgramSpec = serde_json::from_str(r#"{"id": "p", "name": "P", "currency": "USD",
///     "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#)?;
/// let engine = Engine::new(MemoryStore::new()).with_program(spec.build()?);
/// let event = Event::new("e1", "p", Enroll::new(ParticipantId::new("ann")?))?;
/// // The driver's loop; an async host awaits its own queries where this one
/// // calls `fetch`, and commits through its own transaction.
/// let mut snapshot = Snapshot::new(engine.clock().now());
/// let outcome = loop {
///     match engine.decide_against(&snapshot, &event)? {
///         Step::Needs(needs) => snapshot.fetch(engine.store(), needs)?,
///         Step::Done(answer, commit) => {
///             if let Some(commit) = commit {
///                 engine.store().commit(&commit)?; // on a conflict: a new snapshot, and again
///             }
///             break answer?;
///         }
///         _ => unreachable!(),
///     }
/// };
/// assert_eq!(outcome.codes.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Snapshot {
    now: DateTime<Utc>,
    draws: Mutex<Vec<u64>>,
    records: BTreeMap<Key, Option<Versioned>>,
    scans: Vec<Scanned>,
    events: HashMap<EventKey, Option<StoredEvent>>,
    missing: Mutex<Needs>,
}

fn not_in_snapshot() -> StoreError {
    StoreError::Backend(Box::new(NotInSnapshot))
}

impl Snapshot {
    /// An empty snapshot for a decision at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            draws: Mutex::default(),
            records: BTreeMap::new(),
            scans: Vec::new(),
            events: HashMap::new(),
            missing: Mutex::default(),
        }
    }

    /// The decision's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// A random source that gives the draws of earlier runs again, in order,
    /// then draws from `source` (and keeps the draws for the next run).
    pub(crate) fn draws<'a>(&'a self, source: &'a dyn RandomSource) -> Draws<'a> {
        Draws { log: &self.draws, source, next: AtomicUsize::new(0) }
    }
    /// What the reads so far found missing, emptied.
    ///
    /// A round that reads records also reads again every event key the
    /// snapshot holds as absent, after them: an event found absent is then
    /// never older than a record beside it. Else a record showing a
    /// concurrent twin's effects (a referee already referred) could meet
    /// the twin's key read as absent before the twin committed, and the
    /// decision would refuse the event instead of replaying it.
    pub(crate) fn take_needs(&self) -> Needs {
        let mut needs = self.missing.lock().map(|mut needs| std::mem::take(&mut *needs)).unwrap_or_default();
        if !needs.keys.is_empty() || !needs.scans.is_empty() {
            for (key, found) in &self.events {
                if found.is_none() && !needs.events.contains(key) {
                    needs.events.push(key.clone());
                }
            }
        }
        needs
    }

    fn note(&self, f: impl FnOnce(&mut Needs)) {
        if let Ok(mut needs) = self.missing.lock() {
            f(&mut needs);
        }
    }

    /// Fetches what `needs` names from `store`: the records in one call, then
    /// each range and idempotency record. This is the only I/O, and it is the
    /// driver's; a driver with its own calls (async ones) fills the snapshot
    /// with [`found`](Self::found), [`scanned`](Self::scanned) and
    /// [`stored`](Self::stored) instead.
    pub fn fetch(&mut self, store: &dyn Store, needs: Needs) -> Result<(), StoreError> {
        let found = store.get_many(&needs.keys)?;
        self.found(needs.keys, found);
        for (range, limit) in needs.scans {
            let found = store.scan(&range, limit)?;
            self.scanned(range, limit, found);
        }
        for key in needs.events {
            let found = store.stored_event(&key)?;
            self.stored(key, found);
        }
        Ok(())
    }

    /// Adds everything `other` fetched (its time and draws are not taken).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn merge(&mut self, other: Snapshot) {
        self.records.extend(other.records);
        self.scans.extend(other.scans);
        self.events.extend(other.events);
    }

    /// Adds records as the store had them (`None`: absent), `found[i]` under `keys[i]`.
    pub fn found(&mut self, keys: Vec<Key>, found: Vec<Option<Versioned>>) {
        self.records.extend(keys.into_iter().zip(found));
    }

    /// Adds what the store held in `range`, up to `limit` records, in key order.
    pub fn scanned(&mut self, range: KeyRange, limit: usize, found: Vec<(Key, Versioned)>) {
        self.scans.push((range, limit, found));
    }

    /// Adds the idempotency record stored under `key`, if any.
    pub fn stored(&mut self, key: EventKey, found: Option<StoredEvent>) {
        self.events.insert(key, found);
    }
}

/// A range read: the range, its limit, and what the store held in it.
type Scanned = (KeyRange, usize, Vec<(Key, Versioned)>);

/// See [`Snapshot::draws`].
#[derive(Debug)]
pub(crate) struct Draws<'a> {
    log: &'a Mutex<Vec<u64>>,
    source: &'a dyn RandomSource,
    next: AtomicUsize,
}

impl RandomSource for Draws<'_> {
    fn next_u64(&self) -> u64 {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let Ok(mut log) = self.log.lock() else { return self.source.next_u64() };
        match log.get(i) {
            Some(drawn) => *drawn,
            None => {
                let drawn = self.source.next_u64();
                log.push(drawn);
                drawn
            }
        }
    }
}

fn read_only() -> StoreError {
    StoreError::Backend("a snapshot is read-only: commit to the store it was fetched from".into())
}

impl Store for Snapshot {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        self.get_many(std::slice::from_ref(key)).map(|mut found| found.pop().flatten())
    }

    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let missing: Vec<Key> = keys.iter().filter(|k| !self.records.contains_key(*k)).cloned().collect();
        if !missing.is_empty() {
            self.note(|needs| needs.keys.extend(missing));
            return Err(not_in_snapshot());
        }
        Ok(keys.iter().map(|k| self.records.get(k).cloned().flatten()).collect())
    }

    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        match self.scans.iter().find(|(r, l, _)| r == range && *l == limit) {
            Some((_, _, found)) => Ok(found.clone()),
            None => {
                self.note(|needs| needs.scans.push((range.clone(), limit)));
                Err(not_in_snapshot())
            }
        }
    }

    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        match self.events.get(key) {
            Some(found) => Ok(found.clone()),
            None => {
                self.note(|needs| needs.events.push(key.clone()));
                Err(not_in_snapshot())
            }
        }
    }

    fn forget_outcomes(&self, _: chrono::DateTime<chrono::Utc>, _: usize) -> Result<usize, StoreError> {
        Err(read_only())
    }

    fn commit(&self, _: &Commit) -> Result<(), StoreError> {
        Err(read_only())
    }
}
