//! What the engine keeps of a handled event, and for how long: the
//! retention window of outcomes, the answer to a replay, and the bounded
//! forgetting a tick does (see `event::stored`).

use chrono::{DateTime, Utc};

use super::Engine;
use crate::error::{Error, Refusal};
use crate::event::{Event, EventDigest, Outcome, StoredEvent};
use crate::store::Store;

/// How long the engine keeps each event's outcome unless told otherwise
/// ([`Engine::with_outcome_retention`]): 7 days.
pub const DEFAULT_OUTCOME_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// How many outcomes past the retention window one [`EventKind::Tick`](crate::EventKind::Tick)
/// forgets ([`Engine::forget_outcomes`]): a store's work per tick stays
/// bounded however long it ran without one.
pub const FORGET_PER_TICK: usize = 10_000;

impl<S> Engine<S> {
    /// Keeps each event's outcome for `retention` after it was handled
    /// (default [`DEFAULT_OUTCOME_RETENTION`], 7 days; a negative span counts
    /// as zero). Within it, the same event again returns its first outcome;
    /// after it, [`Refusal::AlreadyHandled`]: the event took effect once, and
    /// what it did is in the records (balances, statements, the audit
    /// trail). Every event key and its payload's digest are kept for ever,
    /// so another payload under a used key is [`Refusal::KeyReused`] at any
    /// age. Make the window longer than any retry of the host's. A window
    /// of zero keeps no outcome at all (a simulation, an import that never
    /// sends an event twice): a replay is `AlreadyHandled` at once.
    ///
    /// ```
    /// use referral_engine::{Engine, MemoryStore};
    /// let engine = Engine::new(MemoryStore::new()).with_outcome_retention(chrono::TimeDelta::days(30));
    /// # let _ = engine;
    /// ```
    pub fn with_outcome_retention(mut self, retention: chrono::TimeDelta) -> Self {
        self.outcome_retention = retention.max(chrono::TimeDelta::zero());
        self
    }

    /// Outcomes of events handled before this are past the window.
    pub(super) fn forget_before(&self) -> DateTime<Utc> {
        self.clock.now().checked_sub_signed(self.outcome_retention).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The answer to an event whose key was used before: for the same event
    /// (the same digest), its first outcome within the retention window,
    /// [`Refusal::AlreadyHandled`] after it; [`Refusal::KeyReused`] for
    /// another. The answer depends on the time alone, never on whether a
    /// store has forgotten the outcome yet.
    pub(super) fn replay(&self, stored: &StoredEvent, event: &Event, now: DateTime<Utc>) -> Result<Outcome, Refusal> {
        if stored.digest != EventDigest::of(event) {
            return Err(Refusal::KeyReused(event.key.clone()));
        }
        let kept_until = stored.handled_at.checked_add_signed(self.outcome_retention);
        match &stored.outcome {
            Some(outcome) if kept_until.is_none_or(|until| now < until) => Ok(outcome.clone()),
            _ => Err(Refusal::AlreadyHandled { key: stored.key.clone(), handled_at: stored.handled_at }),
        }
    }

    /// What the store keeps of `event`, accepted with `outcome`: its key,
    /// digest and time, and the outcome unless the window is zero.
    pub(super) fn kept(&self, event: &Event, outcome: &Outcome) -> StoredEvent {
        if self.outcome_retention > chrono::TimeDelta::zero() {
            StoredEvent::new(event, outcome.clone())
        } else {
            StoredEvent::without_outcome(event, outcome.at)
        }
    }
}

impl<S: Store> Engine<S> {
    /// Forgets, in the store, the outcomes of up to [`FORGET_PER_TICK`]
    /// events handled longer ago than the retention window; returns how
    /// many. Every [`EventKind::Tick`](crate::EventKind::Tick) that takes effect does this after its
    /// commit; a host that commits
    /// through [`decide_against`](Self::decide_against) calls it itself.
    pub fn forget_outcomes(&self) -> Result<usize, Error> {
        Ok(self.store.forget_outcomes(self.forget_before(), FORGET_PER_TICK)?)
    }

    /// A tick took effect: forget outcomes past the window, a bounded step,
    /// after its commit (a replayed tick changes nothing). The tick stands
    /// whatever this step meets, so its failure is not the tick's: the call
    /// has already succeeded, and the next tick takes the step again.
    pub(super) fn forget_after_tick(&self) {
        let _ = self.forget_outcomes();
    }
}
