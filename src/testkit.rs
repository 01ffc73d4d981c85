#![allow(clippy::arithmetic_side_effects)] // a test harness: its asserts panic by design
//! The store conformance suite (feature `testkit`).
//!
//! Every store must pass it: [`MemoryStore`], the SQLite and PostgreSQL
//! stores, and any store a host writes. Run it with one macro in a test file:
//!
//! ```
//! use referral_engine::MemoryStore;
//! // In a test file: one #[test] per check, each on a fresh store.
//! referral_engine::conformance_suite!(memory_store, MemoryStore::new);
//! # fn main() {}
//! ```
//!
//! which generates one `#[test]` per check below, each with a fresh store from
//! the factory. Each check is also a plain function for hand-written harnesses.
//! A third argument, `when = <bool expression>`, skips every check when false
//! (for a database that is not configured).

// Test code: a failed check panics with what went wrong.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::event::{Chargeback, Enroll, InviteSent, Payout, Purchase, Redeem, Refund, Reinstate, SignUp, Suspend};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::clock::ManualClock;
use crate::domain::catalog::CatalogItem;
use crate::domain::code::SeededRandom;
use crate::domain::counters::Counters;
use crate::domain::id::{EventKey, ParticipantId, ProgramId};
use crate::domain::value::{Asset, Currency, Value};
use crate::engine::Engine;
use crate::error::{Error, Refusal};
use crate::event::StoredEvent;
use crate::event::{Event, EventKind, Outcome};
use crate::policy::{Amount, LevelReward, MultiLevel, On, OneSided, PolicySpec, RevenueShare, Side, TwoSided};
use crate::program::{Limits, Program, ProgramSpec, Qualification};
use crate::store::{Commit, Key, KeyRange, MemoryStore, Record, Store, StoreError, Versioned, Write};

#[cfg(feature = "tokio")]
pub mod asynchronous;

/// Calls `$mac!($head; <every check of the sync suite>)`: the one list of
/// checks, which the sync and the async suite both run.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_conformance_checks {
    ($mac:ident!($($head:tt)*)) => {
        $crate::$mac!($($head)*;
                commit_then_read_back, stale_read_conflicts_and_writes_nothing,
                duplicate_event_is_refused_and_writes_nothing, scan_is_a_sorted_range,
                compare_and_set_race_counts_exactly, engine_agrees_with_memory_store,
                replay_returns_the_first_outcome, same_events_from_eight_threads_apply_once,
                conflicting_events_from_eight_threads_respect_limits,
                failed_commits_leave_nothing_and_retries_apply_once, a_batch_commit_is_all_or_nothing,
                batches_agree_with_events_one_by_one, get_many_reads_what_get_reads,
                keys_read_as_absent_stay_absent_until_the_commit_ends,
                a_commit_of_thirty_thousand_keys_applies, outcomes_past_the_retention_window_are_forgotten,
                forget_outcomes_is_bounded_and_oldest_first);
    };
}

/// Generates one `#[test]` per conformance check for a store factory.
///
/// `$name` names the generated module; `$factory` is an expression of a
/// closure returning a fresh, migrated, empty store; `when = ...` a
/// condition checked at run time (the check passes without running when it
/// is false). Attributes before the name go on every test, for instance
/// `#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL")]`, so that
/// a suite that cannot run shows as ignored.
#[macro_export]
macro_rules! conformance_suite {
    (@tests $attrs:tt $factory:expr, $when:expr; $($check:ident),*) => {
        $(
            $crate::__conformance_test!($attrs $check {
                if $when {
                    $crate::testkit::$check(&$factory);
                }
            });
        )*
    };
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        $crate::conformance_suite!($(#[$attr])* $name, $factory, when = true);
    };
    ($(#[$attr:meta])* $name:ident, $factory:expr, when = $when:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::__with_conformance_checks!(conformance_suite!(@tests [$(#[$attr])*] $factory, $when));
        }
    };
}

/// One generated test with the suite's attributes (see [`conformance_suite!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ([$(#[$attr:meta])*] $check:ident $body:block) => {
        $(#[$attr])*
        #[test]
        fn $check() $body
    };
}

/// The engine's start time in every check.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

fn key(name: &str) -> Key {
    Key::from_stored(format!("t/{name}"))
}

fn pid(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn program_id() -> ProgramId {
    ProgramId::new("conformance").unwrap_or_else(|e| panic!("{e}"))
}

fn counter(n: u64) -> Arc<Record> {
    Arc::new(Record::Counters(Box::new(Counters { signups: n, ..Counters::default() })))
}

fn count_of(v: &Versioned) -> u64 {
    match v.record.as_ref() {
        Record::Counters(c) => c.signups,
        other => panic!("not a counter: {other:?}"),
    }
}

fn raw_commit(n: usize, reads: Vec<(Key, u64)>, writes: Vec<Write>) -> Commit {
    let event = Event {
        key: EventKey::new(format!("raw-{n}")).unwrap_or_else(|e| panic!("{e}")),
        program: program_id(),
        kind: EventKind::Tick,
    };
    let outcome = Outcome::new(event.key.clone(), start());
    let mut reads = reads;
    reads.sort();
    let mut writes = writes;
    writes.sort_by(|a, b| a.key().cmp(b.key()));
    Commit { events: vec![StoredEvent::new(&event, outcome)], reads, writes }
}

fn everything<S: Store>(store: &S) -> Vec<(Key, Versioned)> {
    let all = KeyRange { start: Key::from_stored(String::new()), end: Key::from_stored("\u{10FFFF}".into()) };
    store.scan(&all, usize::MAX).unwrap_or_else(|e| panic!("scan failed: {e}"))
}

/// Commits `records` (each new) and `events` to a fresh `store` as they are,
/// and reads every one back: each must equal what went in (a store's
/// encoding loses nothing: a currency's minor units, text that looks like a
/// number, the largest amounts). Panics naming the first that does not.
pub fn records_read_back_as_written<S: Store + ?Sized>(
    store: &S,
    records: &[(Key, Arc<Record>)],
    events: &[StoredEvent],
) {
    let mut records = records.to_vec();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let commit = Commit {
        events: events.to_vec(),
        reads: records.iter().map(|(k, _)| (k.clone(), 0)).collect(),
        writes: records.iter().map(|(k, r)| Write::Put(k.clone(), Arc::clone(r))).collect(),
    };
    store.commit(&commit).unwrap_or_else(|e| panic!("commit failed: {e}"));
    for (key, record) in &records {
        let back = store.get(key).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("{key} is gone"));
        assert_eq!(&back.record, record, "{key} reads back otherwise");
    }
    for e in events {
        let back = store.stored_event(&e.key).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(back.as_ref(), Some(e), "event {} reads back otherwise", e.key);
    }
}

/// A commit's footprint does not depend on a server's settings: one commit
/// that reads 10,000 keys as absent and creates 10,000 others, then one
/// that changes those 10,000, both apply. (PostgreSQL's commit took one
/// entry of the server's shared lock table per key before migration 4, and
/// failed with "out of shared memory" past a few thousand.)
pub fn a_commit_of_thirty_thousand_keys_applies<S: Store>(factory: &dyn Fn() -> S) {
    const N: usize = 10_000;
    let store = factory();
    let big = |i: usize| key(&format!("big/{i:05}"));
    let mut reads: Vec<(Key, u64)> = (0..N).map(|i| (key(&format!("absent/{i:05}")), 0)).collect();
    reads.extend((0..N).map(|i| (big(i), 0)));
    let writes = (0..N).map(|i| Write::Put(big(i), counter(1))).collect();
    store.commit(&raw_commit(1, reads, writes)).unwrap_or_else(|e| panic!("the first big commit failed: {e}"));
    let reads = (0..N).map(|i| (big(i), 1)).collect();
    let writes = (0..N).map(|i| Write::Put(big(i), counter(2))).collect();
    store.commit(&raw_commit(2, reads, writes)).unwrap_or_else(|e| panic!("the second big commit failed: {e}"));
    let range = KeyRange { start: key("big/"), end: key("big0") };
    let found = store.scan(&range, usize::MAX).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), N);
    assert!(found.iter().all(|(_, v)| v.version == 2 && count_of(v) == 2));
    let absent =
        store.scan(&KeyRange { start: key("absent/"), end: key("absent0") }, 1).unwrap_or_else(|e| panic!("{e}"));
    assert!(absent.is_empty(), "a key read as absent was left behind (a placeholder?)");
}

/// A commit's writes can be read back with version 1, then 2.
pub fn commit_then_read_back<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    store
        .commit(&raw_commit(1, vec![(key("a"), 0)], vec![Write::Put(key("a"), counter(1))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let a = store.get(&key("a")).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("a missing"));
    assert_eq!((a.version, count_of(&a)), (1, 1));
    store
        .commit(&raw_commit(2, vec![(key("a"), 1)], vec![Write::Put(key("a"), counter(2))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let a = store.get(&key("a")).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("a missing"));
    assert_eq!((a.version, count_of(&a)), (2, 2));
    store.commit(&raw_commit(3, vec![(key("a"), 2)], vec![Write::Delete(key("a"))])).unwrap_or_else(|e| panic!("{e}"));
    assert!(store.get(&key("a")).unwrap_or_else(|e| panic!("{e}")).is_none());
    let stored =
        store.stored_event(&EventKey::new("raw-2").unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(stored, Some(StoredEvent { .. })));
}

/// `get_many` answers each key, in the order asked, absent and repeated keys
/// included, exactly as `get` does.
pub fn get_many_reads_what_get_reads<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    let writes = vec![Write::Put(key("a"), counter(1)), Write::Put(key("c"), counter(3))];
    store.commit(&raw_commit(1, vec![(key("a"), 0), (key("c"), 0)], writes)).unwrap_or_else(|e| panic!("{e}"));
    store
        .commit(&raw_commit(2, vec![(key("c"), 1)], vec![Write::Put(key("c"), counter(4))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let asked = [key("c"), key("b"), key("a"), key("c")];
    let many = store.get_many(&asked).unwrap_or_else(|e| panic!("{e}"));
    let one_by_one: Vec<Option<Versioned>> =
        asked.iter().map(|k| store.get(k).unwrap_or_else(|e| panic!("{e}"))).collect();
    assert_eq!(many, one_by_one);
    let seen: Vec<Option<(u64, u64)>> = many.iter().map(|v| v.as_ref().map(|v| (v.version, count_of(v)))).collect();
    assert_eq!(seen, vec![Some((2, 4)), None, Some((1, 1)), Some((2, 4))]);
    assert_eq!(store.get_many(&[]).unwrap_or_else(|e| panic!("{e}")), vec![]);
}

/// A commit whose read is stale fails with `Conflict` and writes nothing at all.
pub fn stale_read_conflicts_and_writes_nothing<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    store
        .commit(&raw_commit(1, vec![(key("a"), 0)], vec![Write::Put(key("a"), counter(1))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = everything(&store);
    let stale = raw_commit(
        2,
        vec![(key("a"), 0), (key("b"), 0)],
        vec![Write::Put(key("b"), counter(9)), Write::Put(key("a"), counter(9))],
    );
    assert!(matches!(store.commit(&stale), Err(StoreError::Conflict { .. })));
    let absent_now_present = raw_commit(3, vec![(key("a"), 1), (key("b"), 0)], vec![Write::Put(key("b"), counter(9))]);
    store.commit(&absent_now_present).unwrap_or_else(|e| panic!("{e}"));
    let again = raw_commit(4, vec![(key("b"), 0)], vec![Write::Put(key("b"), counter(7))]);
    assert!(matches!(store.commit(&again), Err(StoreError::Conflict { .. })));
    assert_ne!(everything(&store), before);
    assert!(
        store
            .stored_event(&EventKey::new("raw-2").unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    assert!(
        store
            .stored_event(&EventKey::new("raw-4").unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
}

/// A second commit under the same event key fails and writes nothing.
pub fn duplicate_event_is_refused_and_writes_nothing<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    store
        .commit(&raw_commit(1, vec![(key("a"), 0)], vec![Write::Put(key("a"), counter(1))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = everything(&store);
    let twin = raw_commit(1, vec![(key("c"), 0)], vec![Write::Put(key("c"), counter(1))]);
    assert!(matches!(store.commit(&twin), Err(StoreError::DuplicateEvent(_))));
    assert_eq!(everything(&store), before);
}

/// A commit of several events fails whole when one key was stored before,
/// names that key, and writes nothing, not even the other events.
pub fn a_batch_commit_is_all_or_nothing<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    store
        .commit(&raw_commit(1, vec![(key("a"), 0)], vec![Write::Put(key("a"), counter(1))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = everything(&store);
    let mut batch = raw_commit(2, vec![(key("b"), 0)], vec![Write::Put(key("b"), counter(1))]);
    let taken = raw_commit(1, vec![], vec![]).events;
    batch.events.extend(taken);
    match store.commit(&batch) {
        Err(StoreError::DuplicateEvent(k)) => assert_eq!(k.as_str(), "raw-1"),
        other => panic!("expected a duplicate event, got {other:?}"),
    }
    assert_eq!(everything(&store), before);
    let raw2 = EventKey::new("raw-2").unwrap_or_else(|e| panic!("{e}"));
    assert!(store.stored_event(&raw2).unwrap_or_else(|e| panic!("{e}")).is_none());
    batch.events.truncate(1);
    store.commit(&batch).unwrap_or_else(|e| panic!("{e}"));
    assert!(store.stored_event(&raw2).unwrap_or_else(|e| panic!("{e}")).is_some());
}

/// The scenario handled in batches (one per day, with replays and a refused
/// event mixed in) gives each event the outcome it gets one by one, and the
/// same state.
pub fn batches_agree_with_events_one_by_one<S: Store>(factory: &dyn Fn() -> S) {
    let clock = ManualClock::new(start());
    let reference = engine_over(MemoryStore::new(), &clock);
    let expected = run_scenario(&reference, &clock);
    let clock = ManualClock::new(start());
    let engine = engine_over(factory(), &clock);
    let mut days: Vec<(i64, Vec<Event>)> = Vec::new();
    for (i, (advance, kind)) in scenario_events().into_iter().enumerate() {
        let event = Event {
            key: EventKey::new(format!("s{i}")).unwrap_or_else(|e| panic!("{e}")),
            program: program_id(),
            kind,
        };
        match days.last_mut() {
            Some((_, batch)) if advance == 0 => batch.push(event),
            _ => days.push((advance, vec![event])),
        }
    }
    let mut got = Vec::new();
    for (advance, mut batch) in days {
        clock.advance(Duration::days(advance));
        let n = batch.len();
        // A replay of the day's first event, and an event that is refused.
        batch.push(batch.first().cloned().unwrap_or_else(|| panic!("an empty day")));
        let refused_kind = InviteSent::new(pid("nobody")).via(crate::domain::code::Channel::Email).into();
        let refused = Event {
            key: EventKey::new(format!("x{n}")).unwrap_or_else(|e| panic!("{e}")),
            program: program_id(),
            kind: refused_kind,
        };
        batch.push(refused);
        let results = engine.handle_batch(&batch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(results.len(), n + 2);
        let mut results: Vec<Result<Outcome, String>> =
            results.into_iter().map(|r| r.map_err(|e| e.to_string())).collect();
        assert!(results.pop().is_some_and(|r| r.is_err()), "the refused event was accepted");
        assert_eq!(results.pop(), results.first().cloned(), "a replay in the batch gave another outcome");
        got.extend(results);
    }
    assert_eq!(got, expected);
    assert_eq!(observe(&engine), observe(&reference));
}

/// `scan` returns the keys in a range in byte order, up to the limit.
pub fn scan_is_a_sorted_range<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    let names = ["m/b", "m/a", "m/é", "m/a%2F", "m0", "m", "n/a"];
    let writes = names.iter().map(|n| Write::Put(key(n), counter(1))).collect();
    let reads = names.iter().map(|n| (key(n), 0)).collect();
    store.commit(&raw_commit(1, reads, writes)).unwrap_or_else(|e| panic!("{e}"));
    let range = KeyRange { start: key("m/"), end: key("m0") };
    let got: Vec<String> = store
        .scan(&range, 10)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(k, _)| k.as_str().to_owned())
        .collect();
    assert_eq!(got, vec!["t/m/a", "t/m/a%2F", "t/m/b", "t/m/é"]);
    assert_eq!(store.scan(&range, 2).unwrap_or_else(|e| panic!("{e}")).len(), 2);
}

/// 5 workers each add 1 to one record 10 times with read-check-write
/// commits: the total is exactly 50.
pub fn compare_and_set_race_counts_exactly<S: Store + 'static>(factory: &dyn Fn() -> S) {
    let store = Arc::new(factory());
    store
        .commit(&raw_commit(0, vec![(key("n"), 0)], vec![Write::Put(key("n"), counter(0))]))
        .unwrap_or_else(|e| panic!("{e}"));
    let ids = Arc::new(AtomicUsize::new(1));
    let workers: Vec<_> = (0..5)
        .map(|_| {
            let (store, ids) = (Arc::clone(&store), Arc::clone(&ids));
            thread::spawn(move || {
                for _ in 0..10 {
                    loop {
                        let cur = store
                            .get(&key("n"))
                            .unwrap_or_else(|e| panic!("{e}"))
                            .unwrap_or_else(|| panic!("n missing"));
                        let next = counter(count_of(&cur) + 1);
                        let c = raw_commit(
                            ids.fetch_add(1, Ordering::SeqCst),
                            vec![(key("n"), cur.version)],
                            vec![Write::Put(key("n"), next)],
                        );
                        match store.commit(&c) {
                            Ok(()) => break,
                            Err(StoreError::Conflict { .. } | StoreError::Transient(_)) => thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap_or_else(|_| panic!("worker panicked"));
    }
    let n = store.get(&key("n")).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("n missing"));
    assert_eq!((count_of(&n), n.version), (50, 51));
}

/// Two commits both read keys `a` and `b` as absent; one writes `a`, the
/// other `b`. Applied one after the other, the second sees a key it read as
/// absent now present and fails: at most one of them may succeed, however
/// they overlap (no write skew). 200 rounds from two threads at once.
pub fn keys_read_as_absent_stay_absent_until_the_commit_ends<S: Store + 'static>(factory: &dyn Fn() -> S) {
    let store = Arc::new(factory());
    let rounds = 200;
    let start = Arc::new(std::sync::Barrier::new(2));
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .enumerate()
        .map(|(side, name)| {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                (0..rounds)
                    .map(|round| {
                        let (a, b) = (key(&format!("skew/{round}/a")), key(&format!("skew/{round}/b")));
                        let mine = key(&format!("skew/{round}/{name}"));
                        let commit =
                            raw_commit(2 * round + side, vec![(a, 0), (b, 0)], vec![Write::Put(mine, counter(1))]);
                        start.wait();
                        match store.commit(&commit) {
                            Ok(()) => true,
                            Err(StoreError::Conflict { .. } | StoreError::Transient(_)) => false,
                            Err(e) => panic!("{e}"),
                        }
                    })
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let mut sides = workers.into_iter().map(|w| w.join().unwrap_or_else(|_| panic!("worker panicked")));
    let (a, b) = (sides.next().unwrap_or_default(), sides.next().unwrap_or_default());
    assert_eq!((a.len(), b.len()), (rounds, rounds));
    for (round, both) in a.iter().zip(&b).map(|(a, b)| *a && *b).enumerate() {
        assert!(!both, "round {round}: both commits read two absent keys and both applied");
    }
}

/// An event's answer as one `Result`: a refusal becomes [`Error::Refused`].
pub(crate) fn answer(handled: Result<Result<Outcome, Refusal>, Error>) -> Result<Outcome, Error> {
    handled.and_then(|answer| answer.map_err(Error::from))
}

fn v(text: &str) -> Value {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A program exercising every model the engine writes records for: two-sided
/// and multi-level rewards, a revenue share with refunds, holds, a catalog,
/// budgets and caps.
pub fn scenario_program() -> Program {
    let usd = Currency::new("USD", 2).unwrap_or_else(|e| panic!("{e}"));
    let limits = Limits { max_rewarded_referrals: Some(3), budgets: vec![v("400.00 USD")], ..Limits::default() };
    ProgramSpec::new(program_id(), "Conformance", usd)
        .with_qualification(Qualification::FirstPurchase { minimum: Some(Decimal::from(10).into()) })
        .with_hold_days(7)
        .with_limits(limits)
        .with_policy(PolicySpec::TwoSided(TwoSided::new(
            "welcome",
            Side::new(On::Qualified, Amount::Fixed(v("20.00 USD"))),
            Side::new(On::SignUp, Amount::Fixed(v("100 points"))),
        )))
        .with_policy(PolicySpec::MultiLevel(MultiLevel::new(
            "chain",
            On::EveryPurchase,
            vec![
                LevelReward::new(2, Amount::Percent(Decimal::new(25, 1))),
                LevelReward::new(3, Amount::Percent(Decimal::ONE)),
            ],
        )))
        .with_policy(PolicySpec::RevenueShare(RevenueShare::new("share", Decimal::from(10)).for_months(6)))
        .with_policy(PolicySpec::OneSided(OneSided::new("invites", On::InviteSent, Amount::Fixed(v("5 points")))))
        .with_catalog_item(CatalogItem::new("mug", v("5 points")).with_stock(1))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The scenario's events, each with the days to advance the clock before it.
pub fn scenario_events() -> Vec<(i64, EventKind)> {
    let purchase = |who: &str, order: &str, amount: &str| {
        Purchase::new(pid(who), order.parse().unwrap_or_else(|e| panic!("{e}")), v(amount))
    };
    let refund = |order: &str, amount: &str| Refund::new(order.parse().unwrap_or_else(|e| panic!("{e}")), v(amount));
    let enroll = |who: &str, code: &str| Enroll::new(pid(who)).with_vanity_code(code).into();
    vec![
        (0, enroll("ann", "ANN1")),
        (0, InviteSent::new(pid("ann")).into()),
        (0, SignUp::new(pid("bea"), "ann1").into()),
        (0, enroll("bea", "BEA1")),
        (0, SignUp::new(pid("cy"), "BEA1").into()),
        (0, enroll("cy", "CY01")),
        (1, SignUp::new(pid("dan"), "CY01").into()),
        (1, purchase("bea", "o1", "50.00 USD").into()),
        (1, purchase("cy", "o2", "99.99 USD").into()),
        (1, purchase("dan", "o3", "33.33 USD").into()),
        (2, refund("o3", "11.11 USD").into()),
        (0, refund("o3", "11.11 USD").into()),
        (0, Chargeback::new("o3".parse().unwrap_or_else(|e| panic!("{e}")), v("5.00 USD")).into()),
        (5, EventKind::Tick),
        (2, EventKind::Tick),
        (0, Redeem::new(pid("ann"), "mug").into()),
        (0, Suspend::new(pid("cy")).into()),
        (0, purchase("dan", "o4", "40.00 USD").into()),
        (0, Reinstate::new(pid("cy")).into()),
        (31, purchase("dan", "o5", "40.00 USD").into()),
        (8, EventKind::Tick),
        (
            0,
            Payout::new(
                "batch-1".parse().unwrap_or_else(|e| panic!("{e}")),
                "USD".parse().unwrap_or_else(|e| panic!("{e}")),
            )
            .at_least(Decimal::from(5))
            .into(),
        ),
        (0, refund("o1", "50.00 USD").into()),
    ]
}

/// Everything the engine can tell about a program, for comparing stores.
fn observe<S: Store>(engine: &Engine<S>) -> String {
    observe_through(engine.read(&program_id())).unwrap_or_else(|e| panic!("{e}"))
}

/// [`observe`], through any reader (the async engine's over a snapshot).
pub(crate) fn observe_through<S: Store>(reader: crate::engine::Reader<'_, S>) -> Result<String, Error> {
    let mut out = format!("{:?}\n", reader.program_state()?);
    for p in reader.participants().all()? {
        out.push_str(&format!("{p:?}\n{:?}\n", reader.statement(&p.id).all()?));
    }
    out.push_str(&format!("{:?}\n", reader.referrals().all()?));
    Ok(out)
}

/// An engine over `store` for the scenario, keeping outcomes for ten years:
/// its replays come months after the first run.
pub(crate) fn engine_over<S: Store>(store: S, clock: &ManualClock) -> Engine<S> {
    Engine::new(store)
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(7))
        .with_program(scenario_program())
        .with_outcome_retention(Duration::days(3650))
}

fn run_scenario<S: Store>(engine: &Engine<S>, clock: &ManualClock) -> Vec<Result<Outcome, String>> {
    scenario()
        .into_iter()
        .map(|(days, event)| {
            clock.advance(Duration::days(days));
            answer(engine.handle(&event)).map_err(|e| e.to_string())
        })
        .collect()
}

/// The scenario's events, keyed `s0`, `s1`..., each with the days to
/// advance the clock before it.
pub(crate) fn scenario() -> Vec<(i64, Event)> {
    scenario_events()
        .into_iter()
        .enumerate()
        .map(|(i, (days, kind))| {
            let key = EventKey::new(format!("s{i}")).unwrap_or_else(|e| panic!("{e}"));
            (days, Event { key, program: program_id(), kind })
        })
        .collect()
}

/// The whole scenario gives the same outcomes and the same state as on
/// [`MemoryStore`].
pub fn engine_agrees_with_memory_store<S: Store>(factory: &dyn Fn() -> S) {
    let clock = ManualClock::new(start());
    let reference = engine_over(MemoryStore::new(), &clock);
    let expected = run_scenario(&reference, &clock);
    assert!(expected.iter().all(Result::is_ok), "the scenario itself is broken: {expected:?}");
    let clock = ManualClock::new(start());
    let engine = engine_over(factory(), &clock);
    let got = run_scenario(&engine, &clock);
    assert_eq!(got, expected);
    assert_eq!(observe(&engine), observe(&reference));
}

/// Replaying every event of the scenario returns the first outcomes and
/// changes nothing; a reused key with another payload is refused.
pub fn replay_returns_the_first_outcome<S: Store>(factory: &dyn Fn() -> S) {
    let clock = ManualClock::new(start());
    let engine = engine_over(factory(), &clock);
    let first = run_scenario(&engine, &clock);
    let state = observe(&engine);
    clock.advance(Duration::days(100));
    let again = run_scenario(&engine, &clock);
    assert_eq!(again, first);
    assert_eq!(observe(&engine), state);
    let reused = Event {
        key: EventKey::new("s0").unwrap_or_else(|e| panic!("{e}")),
        program: program_id(),
        kind: EventKind::Tick,
    };
    assert!(matches!(engine.handle(&reused), Ok(Err(Refusal::KeyReused(_)))));
}

/// Within the retention window a replay returns the first outcome; past it,
/// `AlreadyHandled`, whether or not a tick has made the store forget the
/// outcome yet; at any age another payload under the key is `KeyReused`,
/// and the key still takes no second commit.
pub fn outcomes_past_the_retention_window_are_forgotten<S: Store>(factory: &dyn Fn() -> S) {
    let clock = ManualClock::new(start());
    let engine = Engine::new(factory())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(7))
        .with_program(scenario_program())
        .with_outcome_retention(Duration::days(7));
    let event = |key: &str, kind: EventKind| Event {
        key: EventKey::new(key).unwrap_or_else(|e| panic!("{e}")),
        program: program_id(),
        kind,
    };
    let enroll = event("e1", Enroll::new(pid("ann")).with_vanity_code("ANN-1").into());
    let first = engine.handle(&enroll).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    clock.advance(Duration::days(7) - Duration::seconds(1));
    let again = engine.handle(&enroll).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.ok(), Some(first), "inside the window");
    clock.advance(Duration::seconds(1));
    let past = engine.handle(&enroll).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&past, Err(Refusal::AlreadyHandled { key, handled_at }) if key == &enroll.key && *handled_at == start()),
        "{past:?}"
    );
    let stored = |key: &str| {
        engine
            .store()
            .stored_event(&EventKey::new(key).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(stored("e1").and_then(|s| s.outcome).is_some(), "no tick yet: the outcome is still kept");
    clock.advance(Duration::seconds(1));
    engine.handle(&event("t1", EventKind::Tick)).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    let kept = stored("e1").unwrap_or_else(|| panic!("the key is gone"));
    assert_eq!((kept.handled_at, kept.outcome), (start(), None), "the tick forgot the outcome");
    let forgotten = engine.handle(&enroll).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(forgotten.err().map(|e| e.to_string()), past.err().map(|e| e.to_string()), "once forgotten");
    let other = event("e1", Enroll::new(pid("bob")).into());
    assert!(matches!(engine.handle(&other), Ok(Err(Refusal::KeyReused(_)))));
    assert!(stored("t1").and_then(|s| s.outcome).is_some(), "the tick's own outcome is kept");
    assert_eq!(engine.read(&program_id()).participant(&pid("ann")).map(|p| p.is_some()).ok(), Some(true));
    // A window of zero keeps no outcome at all: a replay is already handled.
    let engine = Engine::new(engine.store())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(7))
        .with_program(scenario_program())
        .with_outcome_retention(Duration::zero());
    let cy = event("e2", Enroll::new(pid("cy")).into());
    assert!(matches!(engine.handle(&cy), Ok(Ok(_))));
    assert_eq!(stored("e2").map(|s| s.outcome.is_none()), Some(true), "an outcome kept with a window of zero");
    assert!(matches!(engine.handle(&cy), Ok(Err(Refusal::AlreadyHandled { .. }))));
}

/// `forget_outcomes` forgets the oldest outcomes first, at most `limit` a
/// call, only those before the time given; keys, digests and times stay.
pub fn forget_outcomes_is_bounded_and_oldest_first<S: Store>(factory: &dyn Fn() -> S) {
    let store = factory();
    let mut kept = Vec::new();
    for i in [3, 0, 4, 1, 2] {
        let mut commit = raw_commit(i, vec![], vec![]);
        for e in &mut commit.events {
            e.handled_at = start() + Duration::hours(i64::try_from(i).unwrap_or_default());
            kept.push(e.clone());
        }
        store.commit(&commit).unwrap_or_else(|e| panic!("{e}"));
    }
    let outcome = |i: usize| {
        store
            .stored_event(&EventKey::new(format!("raw-{i}")).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("raw-{i} is gone"))
    };
    let before = start() + Duration::hours(3);
    assert_eq!(store.forget_outcomes(before, 2).unwrap_or_else(|e| panic!("{e}")), 2);
    let left: Vec<bool> = (0..5).map(|i| outcome(i).outcome.is_some()).collect();
    assert_eq!(left, [false, false, true, true, true]);
    assert_eq!(store.forget_outcomes(before, 10).unwrap_or_else(|e| panic!("{e}")), 1);
    assert_eq!(store.forget_outcomes(before, 10).unwrap_or_else(|e| panic!("{e}")), 0);
    for e in &kept {
        let i: usize = e.key.as_str().trim_start_matches("raw-").parse().unwrap_or_default();
        let back = outcome(i);
        assert_eq!((&back.key, back.digest, back.handled_at), (&e.key, e.digest, e.handled_at));
        assert_eq!(back.outcome.is_some(), i >= 3, "raw-{i}");
    }
    assert!(matches!(store.commit(&raw_commit(0, vec![], vec![])), Err(StoreError::DuplicateEvent(_))));
}

fn signup_events(referees: usize, prefix: &str, code: &str) -> Vec<Event> {
    (0..referees)
        .map(|i| Event {
            key: EventKey::new(format!("{prefix}-{i}")).unwrap_or_else(|e| panic!("{e}")),
            program: program_id(),
            kind: SignUp::new(pid(&format!("{prefix}-{i}")), code).into(),
        })
        .collect()
}

/// The same events from 8 threads take effect exactly once, with the state a
/// serial run leaves.
pub fn same_events_from_eight_threads_apply_once<S: Store + 'static>(factory: &dyn Fn() -> S) {
    let clock = ManualClock::new(start());
    let reference = engine_over(MemoryStore::new(), &clock);
    let expected = run_scenario(&reference, &clock);
    let clock = ManualClock::new(start());
    let engine = Arc::new(engine_over(factory(), &clock));
    // Days advance between events, so all threads walk the scenario in step.
    let events: Vec<_> = scenario_events().into_iter().enumerate().collect();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (engine, barrier, events, clock) =
                (Arc::clone(&engine), Arc::clone(&barrier), events.clone(), clock.clone());
            thread::spawn(move || {
                let mut outs = Vec::new();
                for (i, (days, kind)) in events {
                    if barrier.wait().is_leader() {
                        clock.advance(Duration::days(days));
                    }
                    barrier.wait();
                    let event = Event {
                        key: EventKey::new(format!("s{i}")).unwrap_or_else(|e| panic!("{e}")),
                        program: program_id(),
                        kind,
                    };
                    outs.push(answer(engine.handle(&event)).map_err(|e| e.to_string()));
                }
                outs
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap_or_else(|_| panic!("thread panicked")), expected);
    }
    assert_eq!(observe(&engine), observe(&reference));
}

/// How many events [`conflicting_events_from_eight_threads_respect_limits`] sends.
pub const CONFLICTING_EVENTS: usize = 2_000;

/// Sign-ups for one hot referrer and a few others, sent with duplicates from
/// 8 threads while the budget runs out: every event applies once, no cap or
/// budget is crossed, and the order-independent figures equal a serial run's.
pub fn conflicting_events_from_eight_threads_respect_limits<S: Store + 'static>(factory: &dyn Fn() -> S) {
    conflicting_events(factory, CONFLICTING_EVENTS);
}

/// [`conflicting_events_from_eight_threads_respect_limits`] with `total` events.
pub fn conflicting_events<S: Store + 'static>(factory: &dyn Fn() -> S, total: usize) {
    let work = Conflicting::new(total);
    let expected = work.serial();
    let engine = Arc::new(Engine::new(factory()).with_clock(ManualClock::new(start())).with_program(work.program()));
    for e in &work.enrolls {
        answer(engine.handle(e)).unwrap_or_else(|err| panic!("{err}"));
    }
    let threads: Vec<_> = work
        .chunks(8)
        .into_iter()
        .map(|chunk| {
            let engine = Arc::clone(&engine);
            thread::spawn(move || {
                for e in chunk {
                    answer(engine.handle(&e)).unwrap_or_else(|err| panic!("{err}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap_or_else(|_| panic!("thread panicked"));
    }
    let program = program_id();
    let got = Conflicting::read(engine.read(&program)).unwrap_or_else(|e| panic!("{e}"));
    work.check(&got, &expected);
}

/// The workload of [`conflicting_events`]: enrollments of four referrers,
/// then a shuffled stream of sign-ups through their codes, duplicates
/// among them, against a cap of 50 rewarded referrals and a budget.
pub(crate) struct Conflicting {
    pub(crate) enrolls: Vec<Event>,
    pub(crate) stream: Vec<Event>,
    unique: usize,
}

/// What [`Conflicting::check`] compares: the program's sign-ups, qualified
/// referrals, USD granted, USD and points held, referrals, and per referrer
/// its sign-ups and whether its cap held.
pub(crate) type ConflictFigures =
    (u64, u64, Decimal, Decimal, Decimal, usize, BTreeMap<&'static str, (u64, bool)>, Decimal);

const CONFLICT_REFERRERS: [&str; 4] = ["hot", "r1", "r2", "r3"];

impl Conflicting {
    pub(crate) fn new(total: usize) -> Self {
        let unique = total * 3 / 4;
        let mut events: Vec<Event> = Vec::with_capacity(total);
        for (i, r) in CONFLICT_REFERRERS.iter().enumerate() {
            events.push(Event {
                key: EventKey::new(format!("enroll-{r}")).unwrap_or_else(|e| panic!("{e}")),
                program: program_id(),
                kind: Enroll::new(pid(r)).with_vanity_code(format!("CODE{i}X")).into(),
            });
        }
        let hot_share = unique / 2;
        events.extend(signup_events(hot_share, "h", "CODE0X"));
        for (i, chunk) in (hot_share..unique).collect::<Vec<_>>().chunks(((unique - hot_share) / 3).max(1)).enumerate()
        {
            let code = format!("CODE{}X", (i % 3) + 1);
            events.extend(chunk.iter().map(|n| Event {
                key: EventKey::new(format!("o-{n}")).unwrap_or_else(|e| panic!("{e}")),
                program: program_id(),
                kind: SignUp::new(pid(&format!("o-{n}")), code.as_str()).into(),
            }));
        }
        let enrolls: Vec<Event> = events.drain(..CONFLICT_REFERRERS.len()).collect();
        let mut stream: Vec<Event> = events.clone();
        let duplicates: Vec<Event> = events.iter().step_by(3).take(total.saturating_sub(unique)).cloned().collect();
        stream.extend(duplicates);
        // A fixed shuffle, so that duplicates land far from their originals.
        let mut order: Vec<usize> = (0..stream.len()).collect();
        order.sort_by_key(|i| (i * 7919) % stream.len().max(1));
        let stream: Vec<Event> = order.into_iter().filter_map(|i| stream.get(i).cloned()).collect();
        Conflicting { enrolls, stream, unique }
    }

    pub(crate) fn program(&self) -> Program {
        let limits = Limits { max_rewarded_referrals: Some(50), budgets: vec![v("1000.00 USD")], ..Limits::default() };
        ProgramSpec::new(program_id(), "Race", Currency::new("USD", 2).unwrap_or_else(|e| panic!("{e}")))
            .with_limits(limits)
            .with_policy(PolicySpec::TwoSided(TwoSided::new(
                "race",
                Side::new(On::Qualified, Amount::Fixed(v("3.00 USD"))),
                Side::new(On::Qualified, Amount::Fixed(v("1 points"))),
            )))
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The stream in `n` slices, one per thread or task.
    pub(crate) fn chunks(&self, n: usize) -> Vec<Vec<Event>> {
        self.stream.chunks(self.stream.len().div_ceil(n).max(1)).map(<[Event]>::to_vec).collect()
    }

    /// The figures of a serial run on [`MemoryStore`].
    pub(crate) fn serial(&self) -> ConflictFigures {
        let serial = Engine::new(MemoryStore::new()).with_clock(ManualClock::new(start())).with_program(self.program());
        for e in self.enrolls.iter().chain(&self.stream) {
            answer(serial.handle(e)).unwrap_or_else(|err| panic!("{err}"));
        }
        let program = program_id();
        Conflicting::read(serial.read(&program)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The figures, read through `reader`.
    pub(crate) fn read<S: Store>(reader: crate::engine::Reader<'_, S>) -> Result<ConflictFigures, Error> {
        let usd: Asset = "USD".parse().unwrap_or_else(|e| panic!("{e}"));
        let points: Asset = "points".parse().unwrap_or_else(|e| panic!("{e}"));
        let totals = reader.totals()?;
        let people = reader.participants().all()?;
        let referrals = reader.referrals().all()?.len();
        let mut by_referrer = BTreeMap::new();
        for r in CONFLICT_REFERRERS {
            let p = people.iter().find(|p| p.id.as_str() == r).unwrap_or_else(|| panic!("{r} missing"));
            by_referrer.insert(r, (p.stats.signups, p.stats.rewarded_referrals <= 50));
        }
        let usd_total: Decimal = people.iter().map(|p| p.balance(&usd).available).sum();
        let points_total: Decimal = people.iter().map(|p| p.balance(&points).available).sum();
        let hot = people.iter().find(|p| p.id.as_str() == "hot").map(|p| p.balance(&usd).available).unwrap_or_default();
        Ok((
            totals.signups,
            totals.qualified,
            totals.granted_in(&usd),
            usd_total,
            points_total,
            referrals,
            by_referrer,
            hot,
        ))
    }

    /// Every event applied once, no cap or budget crossed, the figures a
    /// serial run gives.
    pub(crate) fn check(&self, got: &ConflictFigures, serial: &ConflictFigures) {
        assert_eq!(got, serial);
        assert_eq!(got.5, self.unique);
        assert!(got.2 <= Decimal::from(1000), "budget crossed: {}", got.2);
        assert_eq!(got.2, got.3, "balances do not add up to what was granted");
        assert_eq!(got.7, Decimal::from(150), "the hot referrer's 50 rewarded referrals at 3.00");
    }
}

/// A store wrapper that fails one commit: before applying it, or after
/// applying it (the host sees an error though the commit took effect).
#[derive(Debug)]
pub struct FailingStore<S> {
    inner: S,
    commits: AtomicUsize,
    fail_at: usize,
    after: bool,
}

impl<S: Store> FailingStore<S> {
    /// Fails the `fail_at`-th commit (counting from 1); `after` applies it first.
    pub fn new(inner: S, fail_at: usize, after: bool) -> Self {
        Self { inner, commits: AtomicUsize::new(0), fail_at, after }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Store> Store for FailingStore<S> {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key)
    }
    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.inner.get_many(keys)
    }
    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        self.inner.scan(range, limit)
    }
    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.stored_event(key)
    }
    fn forget_outcomes(&self, before: chrono::DateTime<chrono::Utc>, limit: usize) -> Result<usize, StoreError> {
        self.inner.forget_outcomes(before, limit)
    }
    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        let injected = || StoreError::Backend("injected failure".into());
        if n != self.fail_at {
            return self.inner.commit(commit);
        }
        if self.after {
            self.inner.commit(commit)?;
        }
        Err(injected())
    }
}

/// For every N, failing the N-th commit (before or after it applies) and
/// retrying that event as a host would leaves the same state and outcomes as
/// a run without failures.
pub fn failed_commits_leave_nothing_and_retries_apply_once<S: Store>(factory: &dyn Fn() -> S) {
    let clock = ManualClock::new(start());
    let reference = engine_over(MemoryStore::new(), &clock);
    let expected = run_scenario(&reference, &clock);
    let commits = expected.iter().filter(|o| o.is_ok()).count();
    for after in [false, true] {
        for n in 1..=commits {
            let clock = ManualClock::new(start());
            let engine = engine_over(FailingStore::new(factory(), n, after), &clock);
            let mut got = Vec::new();
            for (i, (days, kind)) in scenario_events().into_iter().enumerate() {
                clock.advance(Duration::days(days));
                let event = Event {
                    key: EventKey::new(format!("s{i}")).unwrap_or_else(|e| panic!("{e}")),
                    program: program_id(),
                    kind,
                };
                let first = answer(engine.handle(&event));
                let out = match first {
                    Err(Error::Store(StoreError::Backend(_))) => answer(engine.handle(&event)),
                    other => other,
                };
                got.push(out.map_err(|e| e.to_string()));
            }
            assert_eq!(got, expected, "failing commit {n} (after: {after})");
            assert_eq!(observe(&engine), observe(&reference), "failing commit {n} (after: {after})");
        }
    }
}
