//! The async conformance suite (features `testkit` and `tokio`): every
//! [`AsyncStore`] must pass it, as every [`Store`] passes the sync one.
//!
//! ```
//! use referral_engine::MemoryStore;
//! // In a test file: one #[test] per check, each on a fresh store.
//! referral_engine::async_conformance_suite!(memory_store, || async { MemoryStore::new() });
//! # fn main() {}
//! ```
//!
//! The factory is a closure returning a future of a fresh, migrated, empty
//! store; it runs on the check's own runtime (a multi-thread tokio runtime
//! the check starts, so a store may hold a pool made there). Two kinds of
//! check run:
//!
//! * every check of the sync suite, races, faults and the write-skew case
//!   (`keys_read_as_absent_stay_absent_until_the_commit_ends`) included,
//!   against the store's [`fetch`](AsyncStore::fetch) and
//!   [`commit`](AsyncStore::commit) through [`BlockOn`], from many threads
//!   at once;
//! * the async engine itself over the store: the whole scenario agrees with
//!   the memory store, and a stream of sign-ups with duplicates from 64
//!   concurrent tasks applies each event once within the caps and budget.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::{ConflictFigures, Conflicting, answer, observe_through, program_id, scenario, start};
use crate::clock::ManualClock;
use crate::domain::code::SeededRandom;
use crate::domain::id::EventKey;
use crate::engine::{AsyncEngine, Needs, Snapshot};
use crate::event::{Outcome, StoredEvent};
use crate::store::{AsyncStore, Commit, Key, KeyRange, MemoryStore, Store, StoreError, Versioned};

/// Generates one `#[test]` per async conformance check for a store factory
/// (a closure returning a future of a fresh store). `when = <bool>` skips
/// every check when false; attributes before the name go on every test (see
/// [`conformance_suite!`](crate::conformance_suite)).
#[macro_export]
macro_rules! async_conformance_suite {
    (@sync $attrs:tt $factory:expr, $when:expr; $($check:ident),*) => {
        $(
            $crate::__conformance_test!($attrs $check {
                if $when {
                    $crate::testkit::asynchronous::on_runtime(&$factory, |stores| $crate::testkit::$check(stores));
                }
            });
        )*
    };
    (@async $attrs:tt $factory:expr, $when:expr; $($check:ident),*) => {
        $(
            $crate::__conformance_test!($attrs $check {
                if $when {
                    $crate::testkit::asynchronous::$check(&$factory);
                }
            });
        )*
    };
    ($(#[$attr:meta])* $name:ident, $factory:expr) => {
        $crate::async_conformance_suite!($(#[$attr])* $name, $factory, when = true);
    };
    ($(#[$attr:meta])* $name:ident, $factory:expr, when = $when:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::__with_conformance_checks!(async_conformance_suite!(@sync [$(#[$attr])*] $factory, $when));
            $crate::async_conformance_suite!(@async [$(#[$attr])*] $factory, $when;
                async_engine_agrees_with_memory_store, sign_ups_from_sixty_four_tasks_apply_once_within_limits);
        }
    };
}

/// A runtime for one check: multi-thread, so that threads outside it can
/// block on its futures while its workers drive them.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a tokio runtime: {e}"))
}

/// Runs a sync check against async stores from `factory`, each seen through
/// [`BlockOn`] on a runtime of the check's own.
pub fn on_runtime<A, F, Fut>(factory: &F, check: impl FnOnce(&dyn Fn() -> BlockOn<A>))
where
    A: AsyncStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = A>,
{
    let runtime = runtime();
    let handle = runtime.handle().clone();
    let stores = || BlockOn { store: runtime.block_on(factory()), runtime: handle.clone() };
    check(&stores);
}

/// An [`AsyncStore`] seen as a sync [`Store`]: each read is one
/// [`fetch`](AsyncStore::fetch) into a fresh snapshot, each commit one
/// [`commit`](AsyncStore::commit), blocked on from the calling thread (never
/// a thread of the runtime).
#[derive(Debug)]
pub struct BlockOn<A> {
    store: A,
    runtime: tokio::runtime::Handle,
}

impl<A: AsyncStore> BlockOn<A> {
    /// `store`, its futures run on `runtime`.
    pub fn new(store: A, runtime: tokio::runtime::Handle) -> Self {
        Self { store, runtime }
    }

    fn fetch(&self, needs: Needs) -> Result<Snapshot, StoreError> {
        let mut snapshot = Snapshot::new(DateTime::<Utc>::MIN_UTC);
        self.runtime.block_on(self.store.fetch(needs, &mut snapshot))?;
        Ok(snapshot)
    }
}

impl<A: AsyncStore> Store for BlockOn<A> {
    fn get(&self, key: &Key) -> Result<Option<Versioned>, StoreError> {
        self.get_many(std::slice::from_ref(key)).map(|mut found| found.pop().flatten())
    }

    fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.fetch(Needs { keys: keys.to_vec(), ..Needs::default() })?.get_many(keys)
    }

    fn scan(&self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, Versioned)>, StoreError> {
        self.fetch(Needs { scans: vec![(range.clone(), limit)], ..Needs::default() })?.scan(range, limit)
    }

    fn stored_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        self.fetch(Needs { events: vec![key.clone()], ..Needs::default() })?.stored_event(key)
    }

    fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.runtime.block_on(self.store.forget_outcomes(before, limit))
    }

    fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        self.runtime.block_on(self.store.commit(commit.clone()))
    }
}

/// The scenario of [`engine_agrees_with_memory_store`](super::engine_agrees_with_memory_store),
/// handled by the async engine: the same outcomes, and the same state read
/// through its read side.
pub fn async_engine_agrees_with_memory_store<A, F, Fut>(factory: &F)
where
    A: AsyncStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = A>,
{
    let clock = ManualClock::new(start());
    let reference = super::engine_over(MemoryStore::new(), &clock);
    let mut expected = Vec::new();
    for (days, event) in scenario() {
        clock.advance(Duration::days(days));
        expected.push(answer(reference.handle(&event)).map_err(|e| e.to_string()));
    }
    let state = super::observe(&reference);
    runtime().block_on(async {
        let clock = ManualClock::new(start());
        let engine = AsyncEngine::new(factory().await)
            .with_clock(clock.clone())
            .with_random(SeededRandom::new(7))
            .with_program(super::scenario_program())
            .with_outcome_retention(Duration::days(3650));
        let mut got: Vec<Result<Outcome, String>> = Vec::new();
        for (days, event) in scenario() {
            clock.advance(Duration::days(days));
            got.push(answer(engine.handle(&event).await).map_err(|e| e.to_string()));
        }
        assert_eq!(got, expected);
        let program = program_id();
        // A closure, not the fn item: the reader's store lifetime must stay higher-ranked.
        #[allow(clippy::redundant_closure)]
        let observed = engine.read(&program, |r| observe_through(r));
        assert_eq!(observed.await.unwrap_or_else(|e| panic!("{e}")), state);
    });
}

/// How many events [`sign_ups_from_sixty_four_tasks_apply_once_within_limits`] sends.
pub const TASK_EVENTS: usize = 1_000;

/// The sign-ups of the sync suite's race (a hot referrer, a cap, a budget,
/// duplicates), sent through the async engine from 64 concurrent tasks:
/// every event applies once, no cap or budget is crossed, and the figures
/// equal a serial run's.
pub fn sign_ups_from_sixty_four_tasks_apply_once_within_limits<A, F, Fut>(factory: &F)
where
    A: AsyncStore + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = A>,
{
    let work = Conflicting::new(TASK_EVENTS);
    let expected = work.serial();
    runtime().block_on(async {
        let engine = Arc::new(
            AsyncEngine::new(factory().await).with_clock(ManualClock::new(start())).with_program(work.program()),
        );
        for e in &work.enrolls {
            answer(engine.handle(e).await).unwrap_or_else(|err| panic!("{err}"));
        }
        let tasks: Vec<_> = work
            .chunks(64)
            .into_iter()
            .map(|chunk| {
                let engine = Arc::clone(&engine);
                tokio::spawn(async move {
                    for e in chunk {
                        answer(engine.handle(&e).await).unwrap_or_else(|err| panic!("{err}"));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("a task failed: {e}"));
        }
        let program = program_id();
        // A closure, not the fn item: the reader's store lifetime must stay higher-ranked.
        #[allow(clippy::redundant_closure)]
        let read = engine.read(&program, |r| Conflicting::read(r));
        let got: ConflictFigures = read.await.unwrap_or_else(|e| panic!("{e}"));
        work.check(&got, &expected);
    });
}
