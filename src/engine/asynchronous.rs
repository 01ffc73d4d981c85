//! The async driver of the one decision: [`AsyncEngine`].
//!
//! It decides exactly as [`Engine`] does (the same `decide`, through
//! [`Engine::step`] against a [`Snapshot`]), and differs only in how it
//! fetches and commits: where the snapshot lacks records, the decision stops
//! and names all it lacked so far; the driver awaits one
//! [`AsyncStore::fetch`] for them and decides again on the larger snapshot.
//! The first attempt does not look the event key up (a new event is the
//! common case, and the commit's unique key catches a used one), so a
//! sign-up costs two reads and a commit, a qualifying purchase three reads
//! and a commit.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::{Batch, Engine, MAX_ATTEMPTS, MAX_BATCH, Needs, READ_RETRIES, Reader, Snapshot, Stepped, trace};
use crate::clock::Clock;
use crate::domain::code::RandomSource;
use crate::domain::id::ProgramId;
use crate::engine::retention::FORGET_PER_TICK;
use crate::engine::tx::Tx;
use crate::error::{Error, Refusal};
use crate::event::{Event, Outcome};
use crate::fraud::SignalKey;
use crate::program::Program;
use crate::store::snapshot::NotInSnapshot;
use crate::store::{AsyncStore, Commit, StoreError, Turn};

/// The read side over a snapshot, as [`AsyncEngine::read`] hands it out.
pub type SnapshotReader<'r> = Reader<'r, &'r Snapshot>;

/// Runs referral programs over an [`AsyncStore`]: the async twin of
/// [`Engine`], with the same answers, the same configuration and the same
/// guarantees (each event's effects committed atomically, exactly once).
///
/// It starts no runtime and spawns no task: every call is a future the
/// caller awaits on its own runtime. Cloning it is cheap when the store's
/// clone is (a pool handle).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use referral_engine::engine::AsyncEngine;
/// use referral_engine::{Event, MemoryStore, ParticipantId, ProgramSpec};
/// use referral_engine::event::{Enroll, SignUp};
/// let spec: ProgramSpec = serde_json::from_str(r#"{"id": "p", "name": "P", "currency": "USD",
///     "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#)?;
/// let engine = AsyncEngine::new(MemoryStore::new()).with_program(spec.build()?);
/// let ann = ParticipantId::new("ann")?;
/// engine.handle(&Event::new("e1", "p", Enroll::new(ann.clone()).with_vanity_code("ANN-2026"))?).await??;
/// engine.handle(&Event::new("s1", "p", SignUp::new(ParticipantId::new("bob")?, "ANN-2026"))?).await??;
/// let program = "p".parse()?;
/// let balance = engine.read(&program, |r| r.balance(&ann, &"USD".parse()?)).await?;
/// assert_eq!(balance.available.to_string(), "5.00");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncEngine<A> {
    engine: Engine<A>,
}

impl<A: AsyncStore> AsyncEngine<A> {
    /// An engine over `store`, with the system clock and OS randomness.
    pub fn new(store: A) -> Self {
        Self { engine: Engine::new(store) }
    }

    /// Uses another clock.
    pub fn with_clock(self, clock: impl Clock + 'static) -> Self {
        Self { engine: self.engine.with_clock(clock) }
    }

    /// Uses another source of randomness for codes.
    pub fn with_random(self, random: impl RandomSource + 'static) -> Self {
        Self { engine: self.engine.with_random(random) }
    }

    /// Runs a program (replacing one with the same id).
    pub fn with_program(self, program: Program) -> Self {
        Self { engine: self.engine.with_program(program) }
    }

    /// Uses `key` to hash identity signals (see [`Engine::with_signal_key`]).
    pub fn with_signal_key(self, key: SignalKey) -> Self {
        Self { engine: self.engine.with_signal_key(key) }
    }

    /// Whether events write their notices to the outbox (see [`Engine::with_outbox`]).
    pub fn with_outbox(self, on: bool) -> Self {
        Self { engine: self.engine.with_outbox(on) }
    }

    /// How long outcomes are kept (see [`Engine::with_outcome_retention`]).
    pub fn with_outcome_retention(self, retention: chrono::TimeDelta) -> Self {
        Self { engine: self.engine.with_outcome_retention(retention) }
    }

    /// A program the engine runs.
    pub fn program(&self, id: &ProgramId) -> Option<&Program> {
        self.engine.program(id)
    }

    /// The store.
    pub fn store(&self) -> &A {
        self.engine.store()
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.engine.clock()
    }

    /// Handles one event: [`Engine::handle`], awaited.
    pub async fn handle(&self, event: &Event) -> Result<Result<Outcome, Refusal>, Error> {
        let mut shared = Shared(self.store());
        let span = trace::handle("handle", 1);
        let attempt =
            self.attempt(&span, &mut shared, |engine, tx, batch, inputs| engine.decide(tx, event, batch, inputs));
        trace::instrument(attempt, span.clone()).await
    }

    /// Handles events in order and commits them as one unit:
    /// [`Engine::handle_batch`], awaited.
    pub async fn handle_batch(&self, events: &[Event]) -> Result<Vec<Result<Outcome, Refusal>>, Error> {
        if events.len() > MAX_BATCH {
            return Err(Error::BatchTooLarge { len: events.len(), max: MAX_BATCH });
        }
        let mut shared = Shared(self.store());
        let span = trace::handle("handle_batch", events.len());
        let attempt = self.attempt(&span, &mut shared, |engine, tx, batch, inputs| {
            events.iter().map(|e| engine.decide(tx, e, batch, inputs)).collect()
        });
        trace::instrument(attempt, span.clone()).await
    }

    /// Decides on snapshots until the decision ends, fetching in between
    /// through `driver`, and commits what was accepted; after a conflict,
    /// again (bounded).
    pub(super) async fn attempt<R>(
        &self,
        span: &trace::Span,
        driver: &mut impl Driver,
        decide: impl Fn(&Engine<A>, &mut Tx<'_>, &mut Batch, (DateTime<Utc>, &dyn RandomSource)) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut failed_reads = 0;
        for attempt in 0..MAX_ATTEMPTS {
            let _turn = driver.turn(attempt).await;
            let mut snapshot = Snapshot::new(self.engine.clock.now());
            let done = loop {
                match self
                    .engine
                    .step(&snapshot, attempt > 0, |tx, batch, inputs| decide(&self.engine, tx, batch, inputs))?
                {
                    Stepped::Needs(needs) => match driver.fetch(needs, &mut snapshot).await {
                        Ok(()) => {}
                        Err(StoreError::Transient(_)) if failed_reads < READ_RETRIES && driver.retries() => {
                            failed_reads = failed_reads.saturating_add(1);
                            break None;
                        }
                        Err(e) => return Err(e.into()),
                    },
                    Stepped::Done { answer, commit, ticked } => break Some((answer, commit, ticked)),
                }
            };
            let Some((answer, commit, ticked)) = done else { continue };
            let Some(commit) = commit else {
                trace::attempts(span, attempt.saturating_add(1));
                return Ok(answer);
            };
            let events = commit.events.len();
            match driver.commit(commit).await {
                Ok(()) => {
                    trace::committed(attempt, events);
                    trace::attempts(span, attempt.saturating_add(1));
                    if ticked && driver.retries() {
                        // As after a sync tick: the tick stands whatever this bounded step meets.
                        let _ = self.forget_outcomes().await;
                    }
                    return Ok(answer);
                }
                // Nothing was written: decide again on fresh reads (a
                // duplicate event then replays).
                Err(e @ (StoreError::Conflict { .. } | StoreError::DuplicateEvent(_))) => trace::again(attempt, &e),
                Err(e @ StoreError::Transient(_)) if driver.retries() => trace::again(attempt, &e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contention(MAX_ATTEMPTS))
    }

    /// Forgets, in the store, up to [`FORGET_PER_TICK`] outcomes past the
    /// retention window (see [`Engine::forget_outcomes`]).
    pub async fn forget_outcomes(&self) -> Result<usize, Error> {
        Ok(self.store().forget_outcomes(self.engine.forget_before(), FORGET_PER_TICK).await?)
    }

    /// Reads one program: `read` runs against a snapshot of what it reads,
    /// fetched as it asks, and its answer is returned. It is the sync read
    /// side ([`Engine::read`]), so every read there (balances, dashboards,
    /// reports, statements in pages) is one here.
    ///
    /// `read` may run more than once (each time the snapshot lacked a
    /// record); it must not act on anything but its answer.
    pub async fn read<R>(
        &self,
        program: &ProgramId,
        read: impl for<'r> Fn(SnapshotReader<'r>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut snapshot = Snapshot::new(self.engine.clock.now());
        let mut failed_reads = 0;
        loop {
            let over = self.engine.over(&snapshot);
            let answer = read(over.read(program));
            match answer {
                Err(Error::Store(e)) if NotInSnapshot::is(&e) => {}
                done => return done,
            }
            let needs = snapshot.take_needs();
            drop(over);
            match self.store().fetch(needs, &mut snapshot).await {
                Ok(()) => {}
                Err(StoreError::Transient(_)) if failed_reads < READ_RETRIES => {
                    failed_reads = failed_reads.saturating_add(1)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// How an attempt fetches and commits: through an [`AsyncStore`] shared by
/// every call, or on one connection inside a host's transaction.
pub(super) trait Driver: Send {
    /// Reads what `needs` names into `snapshot`.
    fn fetch(&mut self, needs: Needs, snapshot: &mut Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Applies `commit`.
    fn commit(&mut self, commit: Commit) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether a transient failure is tried again here (not inside a host's
    /// transaction, which the failure has doomed: the host retries it whole).
    fn retries(&self) -> bool;
    /// The turn of the `attempt`-th attempt (see [`AsyncStore::turn`]).
    fn turn(&self, attempt: u32) -> impl Future<Output = Turn> + Send;
}

/// The store's own calls: [`AsyncStore::fetch`] and [`AsyncStore::commit`].
struct Shared<'a, A>(&'a A);

impl<A: AsyncStore> Driver for Shared<'_, A> {
    fn fetch(&mut self, needs: Needs, snapshot: &mut Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.fetch(needs, snapshot)
    }
    fn commit(&mut self, commit: Commit) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.commit(commit)
    }
    fn retries(&self) -> bool {
        true
    }
    fn turn(&self, attempt: u32) -> impl Future<Output = Turn> + Send {
        self.0.turn(attempt)
    }
}
