//! The engine: the path of one event from the host to the store.
//!
//! ```text
//! handle(event) / handle_batch(events): for each event, on one Tx
//!   ├─ seen in this batch, or (on a retry) stored_event(key)?
//!   │                      ── same payload → the first outcome; other payload → KeyReused
//!   ├─ handle::run(Cx)     ── pure: reads through Tx (versions recorded), applies
//!   │                         policies and limits, collects writes and an Outcome;
//!   │                         in a write layer of its own, dropped whole if refused
//! then once
//!   └─ store.commit(Commit)── atomic: no event key used, every read version current
//!        ├─ Conflict       → decide again (bounded)
//!        └─ DuplicateEvent → the key was used (by an earlier or a concurrent
//!                             commit): decide again, which replays it
//! ```
//!
//! [`Engine::decide_against`] is the second driver of the same decision: it
//! runs against a [`Snapshot`] and, where the snapshot lacks a record, stops
//! with [`Step::Needs`] instead of reading; see the `snapshot` module.
//!
//! The first attempt does not look the event key up before deciding: a new
//! event is the common case, and the commit's unique event key catches a used
//! one (a refusal looks it up, so that a replayed event is never refused). A
//! replay thereby costs one discarded decision; a new event saves a read (a
//! round trip on PostgreSQL).

mod asynchronous;
mod cx;
mod grant;
mod handle;
#[cfg(feature = "sqlx-postgres")]
mod in_transaction;
mod ledger;
pub mod page;
mod read;
mod retention;
mod sync;
mod trace;
mod tx;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::domain::code::{OsRandom, RandomSource};
use crate::domain::id::{EventKey, ProgramId};
use crate::error::{Error, Refusal};
use crate::event::StoredEvent;
use crate::event::{Enroll, Event, EventKind, Outcome, SignUp};
use crate::fraud::{SignalKey, SignalKind};
use crate::program::Program;
use crate::store::Commit;

use crate::store::snapshot::NotInSnapshot;
pub use crate::store::snapshot::{Needs, Snapshot};
pub use asynchronous::{AsyncEngine, SnapshotReader};
use cx::Cx;
pub use handle::account::PAYOUT_PAGE;
pub use handle::enroll::MAX_PARTNER_CODES;
pub use handle::time::TICK_BATCH;
pub use read::{REPORT_REFERRER_DAYS, Reader};
pub use retention::{DEFAULT_OUTCOME_RETENTION, FORGET_PER_TICK};
use tx::Tx;

/// What deciding an event against a [`Snapshot`] came to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// The snapshot lacks these: fetch them and decide again.
    Needs(Needs),
    /// Decided: the answer, and the commit that makes it so (none for a
    /// refusal or a replay).
    Done(Result<Outcome, Refusal>, Option<Commit>),
}

/// What one [`Engine::step`] came to.
pub(crate) enum Stepped<R> {
    /// The snapshot lacks these.
    Needs(Needs),
    /// Decided.
    Done {
        /// The answer.
        answer: R,
        /// What to commit for it (none: nothing was accepted).
        commit: Option<Commit>,
        /// Whether an accepted tick is among it (see `forget_after_tick`).
        ticked: bool,
    },
}

/// The most events one [`Engine::handle_batch`] takes. A commit's work and
/// size are bounded by it: every event's own footprint is bounded (a tick
/// handles at most [`TICK_BATCH`] due items, a payout at most
/// [`PAYOUT_PAGE`] participants), so no commit grows with the program's
/// history or depends on a server's settings.
pub const MAX_BATCH: usize = 1_000;

/// The most identity signals one `Enroll` or `SignUp` carries (each is
/// indexed and kept, hashed, on the participant).
pub const MAX_SIGNALS: usize = 8;

/// How many times a decision is started again after a read failed in
/// passing ([`StoreError::Transient`](crate::store::StoreError::Transient): a dropped connection, a busy
/// database); past it the call fails, retryable.
pub const READ_RETRIES: u32 = 3;

/// How many times an event is decided again after conflicting commits.
pub const MAX_ATTEMPTS: u32 = 100;

/// Runs referral programs over a store.
///
/// Cheap to clone when its store is (an `Arc`, a pool handle): the clock,
/// the randomness and the programs are shared, so a host can keep one in
/// its state and hand a clone to each request.
///
/// ```
/// use referral_engine::{Engine, MemoryStore, ManualClock};
/// use chrono::Utc;
/// let engine = Engine::new(MemoryStore::new()).with_clock(ManualClock::new(Utc::now()));
/// # let _ = engine;
/// ```
#[derive(Debug, Clone)]
pub struct Engine<S> {
    store: S,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    /// Shared between clones: cloning an engine copies a few pointers.
    programs: Arc<HashMap<ProgramId, Arc<Program>>>,
    signal_key: Option<SignalKey>,
    outbox: bool,
    outcome_retention: chrono::TimeDelta,
}

/// Configuration and the decision itself: nothing here touches the store.
impl<S> Engine<S> {
    /// An engine over `store`, with the system clock and OS randomness.
    pub fn new(store: S) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            programs: Arc::default(),
            signal_key: None,
            outbox: true,
            outcome_retention: DEFAULT_OUTCOME_RETENTION,
        }
    }

    /// The same engine over another store: the async driver's reads run
    /// the sync read side over a snapshot this way.
    pub(crate) fn over<T>(&self, store: T) -> Engine<T> {
        Engine {
            store,
            clock: Arc::clone(&self.clock),
            random: Arc::clone(&self.random),
            programs: Arc::clone(&self.programs),
            signal_key: self.signal_key.clone(),
            outbox: self.outbox,
            outcome_retention: self.outcome_retention,
        }
    }

    /// Uses another clock.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Uses another source of randomness for codes.
    pub fn with_random(mut self, random: impl RandomSource + 'static) -> Self {
        self.random = Arc::new(random);
        self
    }

    /// Runs a program (replacing one with the same id).
    pub fn with_program(mut self, program: Program) -> Self {
        self.add_program(program);
        self
    }

    /// Runs a program (replacing one with the same id).
    pub fn add_program(&mut self, program: Program) {
        Arc::make_mut(&mut self.programs).insert(program.id().clone(), Arc::new(program));
    }

    /// A program the engine runs.
    pub fn program(&self, id: &ProgramId) -> Option<&Program> {
        self.programs.get(id).map(AsRef::as_ref)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }
}

/// Configuration and the decision itself: nothing here touches the store.
impl<S> Engine<S> {
    /// Decides one event on top of `tx`. The outer error aborts the whole
    /// attempt (the store failed); the inner one is this event's refusal.
    /// Every driver decides through here, so here the decision is traced.
    fn decide(
        &self,
        tx: &mut Tx<'_>,
        event: &Event,
        batch: &mut Batch,
        inputs: (DateTime<Utc>, &dyn RandomSource),
    ) -> Result<Result<Outcome, Refusal>, Error> {
        let _span = trace::decide(event);
        let decided = self.decide_untraced(tx, event, batch, inputs);
        if let Ok(answer) = &decided {
            trace::decided(answer);
        }
        decided
    }

    fn decide_untraced(
        &self,
        tx: &mut Tx<'_>,
        event: &Event,
        batch: &mut Batch,
        (now, random): (DateTime<Utc>, &dyn RandomSource),
    ) -> Result<Result<Outcome, Refusal>, Error> {
        let event = match self.hash_signals(event) {
            Ok(e) => e,
            Err(refused) => return Ok(Err(refused)),
        };
        let event = event.as_ref();
        let Some(program) = self.programs.get(&event.program) else {
            return Err(Error::UnknownProgram(event.program.clone()));
        };
        let replay = |stored: &StoredEvent| self.replay(stored, event, now);
        if let Some(earlier) = batch.index.get(&event.key).and_then(|&i| batch.accepted.get(i)) {
            return Ok(replay(earlier));
        }
        if batch.look_up_keys
            && let Some(stored) = tx.store().stored_event(&event.key)?
        {
            return Ok(replay(&stored));
        }
        let layer = tx.begin();
        let mut cx = Cx::new(program, event, now, tx, random);
        match handle::run(&mut cx)
            .and_then(|()| handle::outbox::publish(&mut cx, self.outbox))
            .and_then(|()| cx.flush())
        {
            Ok(()) => {
                let outcome = cx.out;
                tx.keep(layer);
                batch.index.insert(event.key.clone(), batch.accepted.len());
                batch.accepted.push(self.kept(event, &outcome));
                batch.ticked |= event.kind == EventKind::Tick;
                Ok(Ok(outcome))
            }
            Err(Error::Refused(refused)) => {
                tx.drop_to(layer);
                // The records read may already hold this very event's effects,
                // committed earlier or by a concurrent twin: then the answer
                // is the first outcome, not the refusal.
                Ok(match tx.store().stored_event(&event.key)? {
                    Some(stored) => replay(&stored),
                    None => Err(refused),
                })
            }
            Err(failed) => Err(failed),
        }
    }

    /// What a decision takes besides records: the time now and the random source.
    fn inputs(&self) -> (DateTime<Utc>, &dyn RandomSource) {
        (self.clock.now(), self.random.as_ref())
    }

    /// Decides `event` against `snapshot` alone: no store call. Either the
    /// answer with the commit that makes it so (none for a refusal or a
    /// replay), or what the snapshot lacks: fetch it
    /// ([`Snapshot::fetch`]) and decide again. The decision is the one
    /// [`handle`](Self::handle) makes; `handle` answers reads as they come.
    /// Commit [`Step::Done`]'s commit to the store the snapshot came from;
    /// on a conflict or a duplicate event, start a new snapshot and decide
    /// again (that replays a duplicate).
    pub fn decide_against(&self, snapshot: &Snapshot, event: &Event) -> Result<Step, Error> {
        Ok(match self.step(snapshot, true, |tx, batch, inputs| self.decide(tx, event, batch, inputs))? {
            Stepped::Needs(needs) => Step::Needs(needs),
            Stepped::Done { answer, commit, .. } => Step::Done(answer, commit),
        })
    }

    /// One step of a snapshot driver: `decide` runs against `snapshot`
    /// alone, and either names what the snapshot lacks or ends with its
    /// answer and the commit that makes it so. Every driver that does not
    /// read as it decides (`decide_against`, the async engine) goes through
    /// here, so they decide alike and differ only in how they fetch and
    /// commit.
    pub(crate) fn step<R>(
        &self,
        snapshot: &Snapshot,
        look_up_keys: bool,
        decide: impl FnOnce(&mut Tx<'_>, &mut Batch, (DateTime<Utc>, &dyn RandomSource)) -> Result<R, Error>,
    ) -> Result<Stepped<R>, Error> {
        let mut tx = Tx::new(snapshot);
        let mut batch = Batch { look_up_keys, ..Batch::default() };
        let draws = snapshot.draws(self.random.as_ref());
        match decide(&mut tx, &mut batch, (snapshot.now(), &draws)) {
            Err(Error::Store(e)) if NotInSnapshot::is(&e) => Ok(Stepped::Needs(snapshot.take_needs())),
            Err(e) => Err(e),
            Ok(answer) => {
                let ticked = batch.ticked;
                let commit = (!batch.accepted.is_empty()).then(|| tx.into_commit(batch.accepted));
                Ok(Stepped::Done { answer, commit, ticked })
            }
        }
    }
}

/// Configuration and the decision itself: nothing here touches the store.
impl<S> Engine<S> {
    /// Uses `key` to hash identity signals (see [`crate::fraud`]). Without
    /// one, an event that carries signals is refused.
    pub fn with_signal_key(mut self, key: SignalKey) -> Self {
        self.signal_key = Some(key);
        self
    }

    /// Whether events write their notices to the outbox (on by default). A
    /// host that acts on each [`Outcome`]'s notices synchronously, or a
    /// simulation, can switch it off; the audit trail is kept either way.
    pub fn with_outbox(mut self, on: bool) -> Self {
        self.outbox = on;
        self
    }

    /// The event with every raw signal replaced by its keyed hash, so that no
    /// raw value is compared or stored.
    fn hash_signals<'e>(&self, event: &'e Event) -> Result<Cow<'e, Event>, Refusal> {
        let signals = match &event.kind {
            EventKind::SignUp(SignUp { signals, .. }) | EventKind::Enroll(Enroll { signals, .. }) => signals,
            _ => return Ok(Cow::Borrowed(event)),
        };
        if signals.is_empty() {
            return Ok(Cow::Borrowed(event));
        }
        // Each signal is a record written and a hash kept on the participant
        // for ever: an event carries a few, never an unbounded list.
        if signals.len() > MAX_SIGNALS {
            return Err(Refusal::InvalidEvent(format!(
                "{} identity signals in one event; at most {MAX_SIGNALS}",
                signals.len()
            )));
        }
        if let Some(s) = signals.iter().find(|s| s.hash().is_some()) {
            return Err(Refusal::InvalidSignal {
                kind: s.kind,
                reason: "arrived hashed; the engine takes raw values only",
            });
        }
        let Some(key) = &self.signal_key else {
            let kind = signals.first().map_or(SignalKind::Email, |s| s.kind);
            return Err(Refusal::InvalidSignal { kind, reason: "the engine has no signal key to hash it with" });
        };
        let hashed = signals
            .iter()
            .map(|s| {
                key.hash(s).ok_or(Refusal::InvalidSignal { kind: s.kind, reason: "not a valid value of its kind" })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut owned = event.clone();
        if let EventKind::SignUp(SignUp { signals, .. }) | EventKind::Enroll(Enroll { signals, .. }) = &mut owned.kind {
            *signals = hashed;
        }
        Ok(Cow::Owned(owned))
    }
}

/// The events of one attempt that were accepted, in order, by key.
#[derive(Default)]
pub(crate) struct Batch {
    accepted: Vec<StoredEvent>,
    index: HashMap<EventKey, usize>,
    /// Whether to look each event key up in the store before deciding
    /// (retries and dry runs); otherwise the commit's unique key checks it.
    look_up_keys: bool,
    /// Whether a tick was accepted (not replayed): once committed, outcomes
    /// past the retention window are forgotten.
    ticked: bool,
}
