//! The sync driver: [`Engine::handle`] and [`Engine::handle_batch`] decide
//! on a [`Tx`] that reads the store as it goes, then commit once; after a
//! conflict, again (bounded). The async driver is `asynchronous.rs`; both
//! run the one decision of `mod.rs`.

use super::tx::Tx;
use super::{Batch, Engine, MAX_ATTEMPTS, MAX_BATCH, READ_RETRIES, trace};
use crate::error::{Error, Refusal};
use crate::event::{Event, Outcome};
use crate::store::{Store, StoreError};

/// Handling: decide, then commit, on the caller's thread.
impl<S: Store> Engine<S> {
    /// Handles one event: decides and commits its effects atomically, exactly once.
    ///
    /// The same key again returns the first outcome and writes nothing; the
    /// same key with another payload is [`Refusal::KeyReused`]. A refused event
    /// writes nothing.
    ///
    /// The answer is two-layered: `Ok(Ok(outcome))`, the event took effect;
    /// `Ok(Err(refusal))`, the event was refused, a business answer to show
    /// (see [`Refusal::code`]); `Err(error)`, the call failed (the store, the
    /// configuration, contention; [`Error::is_retryable`] says whether to try
    /// again).
    pub fn handle(&self, event: &Event) -> Result<Result<Outcome, Refusal>, Error> {
        let span = trace::handle("handle", 1);
        self.attempt(&span, Tx::new, |tx, batch| self.decide(tx, event, batch, self.inputs()))
    }

    /// Handles events in order and commits what they change as one unit:
    /// one transaction, one round of version checks, one fsync.
    ///
    /// Each event's result is the one [`handle`](Self::handle) would have
    /// given it, had the events been handled one after another: an event
    /// sees the effects of those before it, a refused event writes nothing,
    /// a key already stored (or seen earlier in the batch) replays. The
    /// accepted events' effects land together or not at all; an `Err` from
    /// the call itself (a failing store, contention) means none landed.
    ///
    /// A batch takes at most [`MAX_BATCH`] events: a longer one is
    /// [`Error::BatchTooLarge`] before anything is decided. An import of
    /// more goes in slices (`events.chunks(MAX_BATCH)`), each landing whole.
    ///
    /// ```
    /// use referral_engine::{Engine, Event, ManualClock, MemoryStore, ParticipantId, ProgramSpec};
    /// use referral_engine::event::{Enroll, SignUp};
    /// use chrono::Utc;
    /// let spec: ProgramSpec = serde_json::from_str(r#"{"id": "p", "name": "P", "currency": "USD",
    ///     "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#).unwrap();
    /// let engine = Engine::new(MemoryStore::new())
    ///     .with_clock(ManualClock::new(Utc::now()))
    ///     .with_program(spec.build().unwrap());
    /// let ann = ParticipantId::new("ann").unwrap();
    /// let events = vec![
    ///     Event::new("e1", "p", Enroll::new(ann.clone()).with_vanity_code("ANN-2026")).unwrap(),
    ///     Event::new("s1", "p", SignUp::new(ParticipantId::new("bob").unwrap(), "ANN-2026")).unwrap(),
    ///     Event::new("s2", "p", SignUp::new(ParticipantId::new("cy").unwrap(), "NO-SUCH-CODE")).unwrap(),
    /// ];
    /// let results = engine.handle_batch(&events).unwrap();
    /// assert!(results[0].is_ok() && results[1].is_ok());
    /// assert_eq!(results[2].as_ref().unwrap_err().code(), "unknown_code"); // refused: wrote nothing
    /// assert_eq!(engine.read(&"p".parse().unwrap()).balance(&ann, &"USD".parse().unwrap()).unwrap().available.to_string(), "5.00");
    /// ```
    pub fn handle_batch(&self, events: &[Event]) -> Result<Vec<Result<Outcome, Refusal>>, Error> {
        if events.len() > MAX_BATCH {
            return Err(Error::BatchTooLarge { len: events.len(), max: MAX_BATCH });
        }
        let span = trace::handle("handle_batch", events.len());
        self.attempt(&span, Tx::new, |tx, batch| {
            events.iter().map(|e| self.decide(tx, e, batch, self.inputs())).collect()
        })
    }

    /// Decides with `decide` on a fresh read/write set from `new_tx` and
    /// commits what was accepted; after a conflict, again (bounded).
    fn attempt<'s, R>(
        &'s self,
        span: &trace::Span,
        new_tx: fn(&'s dyn Store) -> Tx<'s>,
        mut decide: impl FnMut(&mut Tx<'s>, &mut Batch) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let _entered = span.clone().entered();
        let mut failed_reads = 0;
        for attempt in 0..MAX_ATTEMPTS {
            let mut tx = new_tx(&self.store);
            let mut batch = Batch { look_up_keys: attempt > 0, ..Batch::default() };
            let result = match decide(&mut tx, &mut batch) {
                Ok(result) => result,
                // A read failed in passing (a dropped connection, a busy
                // database): nothing is written yet; decide again.
                Err(Error::Store(StoreError::Transient(_))) if failed_reads < READ_RETRIES => {
                    failed_reads = failed_reads.saturating_add(1);
                    backoff(attempt);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let ticked = batch.ticked;
            if self.commit(tx, batch, attempt)? {
                trace::attempts(span, attempt.saturating_add(1));
                if ticked {
                    self.forget_after_tick();
                }
                return Ok(result);
            }
        }
        Err(Error::Contention(MAX_ATTEMPTS))
    }

    /// The outcome `event` would have now; writes nothing.
    pub fn dry_run(&self, event: &Event) -> Result<Result<Outcome, Refusal>, Error> {
        let batch = &mut Batch { look_up_keys: true, ..Batch::default() };
        self.decide(&mut Tx::new(&self.store), event, batch, self.inputs())
    }
}

impl<S: Store> Engine<S> {
    /// Commits what a batch's accepted events changed. `false`: a conflict;
    /// decide again.
    fn commit(&self, tx: Tx<'_>, batch: Batch, attempt: u32) -> Result<bool, Error> {
        if batch.accepted.is_empty() {
            return Ok(true);
        }
        let events = batch.accepted.len();
        match self.store.commit(&tx.into_commit(batch.accepted)) {
            Ok(()) => {
                trace::committed(attempt, events);
                Ok(true)
            }
            // A transient failure (a deadlock, a serialization failure, a busy
            // database) changed nothing: decide again, as after a conflict.
            Err(e @ (StoreError::Conflict { .. } | StoreError::DuplicateEvent(_) | StoreError::Transient(_))) => {
                trace::again(attempt, &e);
                backoff(attempt);
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn backoff(attempt: u32) {
    match crate::store::backoff::pause_after(attempt) {
        None => std::thread::yield_now(),
        Some(pause) => std::thread::sleep(pause),
    }
}
