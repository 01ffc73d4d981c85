//! Deciding with no store call: a decision against a [`Snapshot`] of the
//! records a driver has fetched, and nothing else.
//!
//! A read the snapshot cannot answer is not made: the snapshot notes what is
//! missing ([`Needs`]) and the decision stops. The driver fetches what was
//! named, all of it in one round where it can, and decides again from the
//! start on the larger snapshot, until the decision finishes. The decision
//! code is the one [`Engine::handle`](super::Engine::handle) runs; only where
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
use crate::store::{Commit, Key, KeyRange, Store, StoreError, StoredEvent, Versioned};

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
/// use referral_engine::{Engine, Event, EventKind, MemoryStore, ParticipantId, ProgramSpec, Store};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let spec: ProgramSpec = serde_json::from_str(r#"{"id": "p", "name": "P", "currency": "USD",
///     "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#)?;
/// let engine = Engine::new(MemoryStore::new()).with_program(spec.build()?);
/// let event = Event::new("e1", "p", EventKind::enroll(ParticipantId::new("ann")?))?;
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
    pub(crate) fn take_needs(&self) -> Needs {
        self.missing.lock().map(|mut needs| std::mem::take(&mut *needs)).unwrap_or_default()
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

    fn commit(&self, _: &Commit) -> Result<(), StoreError> {
        Err(StoreError::Backend("a snapshot is read-only: commit to the store it was fetched from".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use chrono::{TimeZone, Utc};

    use super::Snapshot;
    use crate::clock::ManualClock;
    use crate::domain::code::SeededRandom;
    use crate::domain::id::{EventKey, OrderId, ParticipantId};
    use crate::engine::{Engine, Step};
    use crate::error::Error;
    use crate::event::{Event, EventKind, Outcome};
    use crate::program::ProgramSpec;
    use crate::store::{Commit, Key, KeyRange, MemoryStore, Store, StoreError, StoredEvent, Versioned};

    /// A store that counts, per key, the records it hands out and takes in.
    #[derive(Default)]
    struct Counting {
        inner: MemoryStore,
        reads: Mutex<BTreeMap<Key, usize>>,
        writes: Mutex<BTreeMap<Key, usize>>,
        calls: Mutex<usize>,
    }

    impl Counting {
        fn read(&self, key: &Key) {
            *self.reads.lock().unwrap().entry(key.clone()).or_default() += 1;
        }
        fn call(&self) {
            *self.calls.lock().unwrap() += 1;
        }
        fn calls(&self) -> usize {
            *self.calls.lock().unwrap()
        }
        /// The keys read and written more than once since the last reset.
        fn again_and_reset(&self) -> (Vec<Key>, Vec<Key>) {
            let again = |m: &Mutex<BTreeMap<Key, usize>>| {
                let mut m = m.lock().unwrap();
                let again = m.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.clone()).collect();
                m.clear();
                again
            };
            (again(&self.reads), again(&self.writes))
        }
    }

    impl Store for Counting {
        fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
            self.call();
            self.read(key);
            self.inner.get(key)
        }
        fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
            self.call();
            keys.iter().for_each(|k| self.read(k));
            self.inner.get_many(keys)
        }
        fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
            self.call();
            let found = self.inner.scan(range, limit)?;
            found.iter().for_each(|(k, _)| self.read(k));
            Ok(found)
        }
        fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
            self.call();
            self.inner.stored_event(key)
        }
        fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
            self.call();
            for w in &commit.writes {
                *self.writes.lock().unwrap().entry(w.key().clone()).or_default() += 1;
            }
            self.inner.commit(commit)
        }
    }

    fn engine<S: Store>(store: S) -> Engine<S> {
        let spec: ProgramSpec = serde_json::from_str(
            r#"{"id":"p","name":"P","currency":"USD","attribution":{"model":"last_touch"},
            "qualification":{"first_purchase":{"minimum":"20.00"}},"qualification_window_days":30,
            "hold_days":7,"limits":{"budgets":["1000.00 USD"],"max_rewarded_referrals":5},
            "policies":[
              {"type":"two_sided","name":"both",
               "referrer":{"on":"qualified","reward":{"fixed":"10.00 USD"}},
               "referee":{"on":"qualified","reward":{"fixed":"5.00 USD"}}},
              {"type":"one_sided","name":"hello","on":"sign_up","reward":{"fixed":"1.00 USD"}},
              {"type":"revenue_share","name":"share","percent":"10","months":12}]}"#,
        )
        .unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Engine::new(store)
            .with_clock(ManualClock::new(start))
            .with_random(SeededRandom::new(7))
            .with_program(spec.build().unwrap())
    }

    fn pid(s: &str) -> ParticipantId {
        ParticipantId::new(s).unwrap()
    }

    /// Enrollments, sign-ups (one re-attributed), purchases below and above
    /// the minimum, a refund, a refused event, a replay, a tick and a payout.
    fn events(codes: &dyn Fn(&str) -> String) -> Vec<EventKind> {
        let usd = |s: &str| s.parse().unwrap();
        vec![
            EventKind::sign_up(pid("bob"), codes("ann")),
            EventKind::sign_up(pid("cy"), codes("ann")),
            EventKind::sign_up(pid("cy"), codes("dan")),
            EventKind::sign_up(pid("eve"), "NOSUCHCODE"),
            EventKind::purchase(pid("bob"), OrderId::new("o1").unwrap(), usd("10.00 USD")),
            EventKind::purchase(pid("bob"), OrderId::new("o2").unwrap(), usd("50.00 USD")),
            EventKind::purchase(pid("cy"), OrderId::new("o3").unwrap(), usd("80.00 USD")),
            EventKind::Refund { order: OrderId::new("o2").unwrap(), amount: usd("20.00 USD") },
            EventKind::Tick,
            EventKind::Payout { payout: "p1".parse().unwrap(), asset: "USD".parse().unwrap(), minimum: None },
        ]
    }

    fn enroll(who: &str) -> EventKind {
        EventKind::enroll(pid(who))
    }

    /// Runs every event through `send` and returns the outcomes.
    fn run(send: &mut dyn FnMut(&Event) -> Result<Outcome, Error>) -> Vec<Result<Outcome, String>> {
        let mut answers = Vec::new();
        let mut codes = BTreeMap::new();
        for (n, who) in ["ann", "dan"].into_iter().enumerate() {
            let out = send(&Event::new(&format!("enroll-{n}"), "p", enroll(who)).unwrap()).unwrap();
            codes.insert(who.to_owned(), out.codes[0].to_string());
            answers.push(Ok(out));
        }
        let events = events(&|who| codes[who].clone());
        for (n, kind) in events.into_iter().enumerate() {
            let event = Event::new(&format!("e{n}"), "p", kind).unwrap();
            answers.push(send(&event).map_err(|e| e.to_string()));
            if n == 1 {
                answers.push(send(&event).map_err(|e| e.to_string())); // a replay
            }
        }
        answers
    }

    /// The driver an async host would write, here with blocking calls:
    /// decide against the snapshot, fetch what it lacks, decide again.
    fn by_snapshots(engine: &Engine<Counting>, event: &Event, rounds: &mut usize) -> Result<Outcome, Error> {
        let mut snapshot = Snapshot::new(engine.clock().now());
        loop {
            let calls = engine.store().calls();
            let step = engine.decide_against(&snapshot, event)?;
            assert_eq!(engine.store().calls(), calls, "a decision called the store");
            match step {
                Step::Needs(needs) => {
                    assert!(!needs.is_empty());
                    *rounds += 1;
                    assert!(*rounds < 1000, "{}: still needs {needs:?}", event.key);
                    snapshot.fetch(engine.store(), needs)?;
                }
                Step::Done(answer, commit) => {
                    if let Some(commit) = commit {
                        engine.store().commit(&commit)?;
                    }
                    return answer;
                }
            }
        }
    }

    #[test]
    fn a_decision_against_a_snapshot_calls_no_store_and_ends_where_handle_does() {
        let direct = engine(MemoryStore::new());
        let expected = run(&mut |e| direct.handle(e));
        let offline = engine(Counting::default());
        let mut rounds = 0;
        let answers = run(&mut |e| by_snapshots(&offline, e, &mut rounds));
        assert_eq!(answers, expected);
        assert!(expected.iter().any(Result::is_err), "a refusal is among them");
        assert!(rounds > answers.len(), "the snapshots started empty and grew");
        assert_eq!(offline.store().inner.dump(), direct.store().dump());
    }

    #[test]
    fn an_event_reads_each_record_at_most_once_and_writes_it_at_most_once() {
        let engine = engine(Counting::default());
        let answers = run(&mut |e| {
            let answer = engine.handle(e);
            let (reads, writes) = engine.store().again_and_reset();
            assert!(reads.is_empty() && writes.is_empty(), "{}: read again {reads:?}, written again {writes:?}", e.key);
            answer
        });
        assert!(answers.iter().filter(|a| a.is_ok()).count() > 8);
    }
}
