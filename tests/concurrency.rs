//! The same events fired from 8 threads at one shared MemoryStore take effect
//! exactly once, and leave exactly the state a serial run leaves; and events
//! of different referrers do not contend for program-wide records.

mod common;
use referral_engine::event::{Enroll, Purchase, SignUp};
use std::sync::Arc;
use std::thread;

use common::*;
use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::id::EventKey;
use referral_engine::event::StoredEvent;
use referral_engine::store::{Commit, Key, KeyRange, Store, StoreError, Versioned};
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore};

const PROGRAM: &str = r#"{
    "id": "p", "name": "P", "currency": "USD",
    "limits": {"max_rewarded_referrals": 30, "budgets": ["1000.00 USD"]},
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "20.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "15.00 USD"}}}]
}"#;

fn events() -> Vec<Event> {
    let mut kinds: Vec<EventKind> = vec![Enroll::new(pid("alice")).with_vanity_code("ALICE-2026").into()];
    for i in 0..40 {
        kinds.push(SignUp::new(pid(&format!("friend-{i}")), "alice-2026").into());
        kinds.push(
            Purchase::new(pid(&format!("friend-{i}")), format!("o-{i}").parse().unwrap(), value("30.00 USD")).into(),
        );
    }
    kinds.into_iter().enumerate().map(|(i, k)| Event::new(&format!("e{i}"), "p", k).unwrap()).collect()
}

fn engine() -> Engine<Arc<MemoryStore>> {
    Engine::new(Arc::new(MemoryStore::new()))
        .with_clock(ManualClock::new(t0()))
        .with_random(SeededRandom::new(3))
        .with_program(program(PROGRAM))
}

#[test]
fn eight_threads_sending_the_same_events_take_effect_exactly_once() {
    let serial = engine();
    let events = events();
    let outcomes: Vec<_> = events.iter().map(|e| flat(serial.handle(e)).unwrap()).collect();

    let shared = Arc::new(engine());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let engine = Arc::clone(&shared);
            let events = events.clone();
            thread::spawn(move || events.iter().map(|e| flat(engine.handle(e)).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    for h in handles {
        // Every thread sees the same outcome for each event: the first one.
        assert_eq!(h.join().unwrap(), outcomes);
    }

    let program = "p".parse().unwrap();
    let usd = asset("USD");
    let alice = shared.read(&program).balance(&pid("alice"), &usd).unwrap();
    // The budget of 1000 USD runs out part-way, and is used exactly, never crossed.
    let totals = shared.read(&program).totals().unwrap();
    assert_eq!(totals.granted_in(&usd), dec("1000.00"));
    assert_eq!(
        alice.available
            + (0..40)
                .map(|i| shared.read(&program).balance(&pid(&format!("friend-{i}")), &usd).unwrap().available)
                .sum::<rust_decimal::Decimal>(),
        dec("1000.00")
    );
    assert_eq!(totals.signups, 40);
    assert_eq!(totals.qualified, 40);
    assert_eq!(shared.store().dump(), serial.store().dump());
}

/// Keeps every commit a store applies.
#[derive(Default)]
struct Recording {
    store: MemoryStore,
    commits: std::sync::Mutex<Vec<Commit>>,
}

impl Store for Recording {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        self.store.get(key)
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
        self.store.commit(commit)?;
        self.commits.lock().unwrap().push(commit.clone());
        Ok(())
    }
}

/// Sign-ups through different referrers share no record that one writes and
/// the other reads, unless their keys hash to the same counter shard: the
/// program-wide counters and the outbox do not serialize a program's events.
#[test]
fn sign_ups_through_different_referrers_commit_side_by_side() {
    const OPEN: &str = r#"{
        "id": "p", "name": "P", "currency": "USD",
        "policies": [{"type": "two_sided", "name": "bounty",
            "referrer": {"on": "qualified", "reward": {"fixed": "20.00 USD"}},
            "referee":  {"on": "qualified", "reward": {"fixed": "15.00 USD"}}}]
    }"#;
    let w = World::with_store(Recording::default(), program(OPEN));
    let codes: Vec<_> = (0..8).map(|i| w.enroll(&format!("referrer-{i}"))).collect();
    let before = w.engine.store().commits.lock().unwrap().len();
    for (i, code) in codes.iter().enumerate() {
        w.sign_up(&format!("friend-{i}"), code).unwrap();
        w.purchase(&format!("friend-{i}"), &format!("o-{i}"), "30.00 USD").unwrap();
    }
    let commits = w.engine.store().commits.lock().unwrap()[before..].to_vec();
    let shard = |c: &Commit| c.writes.iter().map(|w| w.key().as_str()).find(|k| k.starts_with("t/")).map(str::to_owned);
    let shards: std::collections::BTreeSet<_> = commits.iter().map(shard).collect();
    assert!(shards.len() > 1, "every event counted in one shard: {shards:?}");
    assert_eq!(commits.len(), 16);
    let mut apart = 0;
    // Commits 2i and 2i + 1 are friend-i's sign-up and purchase.
    for (i, a) in commits.iter().enumerate() {
        for (j, b) in commits.iter().enumerate() {
            if i / 2 == j / 2 || shard(a) == shard(b) {
                continue;
            }
            apart += 1;
            let written: Vec<&Key> = a.writes.iter().map(|w| w.key()).collect();
            let shared: Vec<_> = b.reads.iter().filter(|(k, _)| written.contains(&k)).collect();
            assert!(shared.is_empty(), "{:?} and {:?} contend for {shared:?}", a.events[0].key, b.events[0].key);
        }
    }
    assert!(apart > 0);
}
