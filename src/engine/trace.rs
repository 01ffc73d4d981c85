//! What the engine tells `tracing` (feature `tracing`): one place every
//! driver goes through, so the sync and the async engine report alike.
//!
//! * a span `referral.handle` per call (`handle`, `handle_batch`,
//!   `handle_in`): the call and how many events; its field `attempts` is
//!   recorded when it ends;
//! * a span `referral.decide` per decision of one event: its program, kind
//!   and key; an event at its end with the outcome (rewards granted) or the
//!   refusal's code;
//! * an event per commit that failed and is decided again (`conflict`,
//!   `duplicate` or `transient`, with the attempt), at `debug`, and per
//!   commit that landed.
//!
//! The crate installs no subscriber; without one (or without the feature)
//! none of this costs more than a branch.

use crate::error::Refusal;
use crate::event::{Event, Outcome};
use crate::store::StoreError;

#[cfg(feature = "tracing")]
pub(crate) use tracing::Span;

/// Without the feature: a span that is nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone)]
pub(crate) struct Span;

#[cfg(not(feature = "tracing"))]
impl Span {
    pub(crate) fn entered(self) -> Self {
        self
    }
}

/// The span of one handling call, `call` named (`"handle"`, `"handle_batch"`, `"handle_in"`).
pub(crate) fn handle(call: &'static str, events: usize) -> Span {
    #[cfg(feature = "tracing")]
    return tracing::info_span!("referral.handle", call, events, attempts = tracing::field::Empty);
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (call, events);
        Span
    }
}

/// Records on a `referral.handle` span how many attempts the call took.
pub(crate) fn attempts(span: &Span, attempts: u32) {
    #[cfg(feature = "tracing")]
    span.record("attempts", attempts);
    #[cfg(not(feature = "tracing"))]
    let _ = (span, attempts);
}

/// Runs `future` inside `span`.
pub(crate) fn instrument<F: std::future::Future>(
    future: F,
    span: Span,
) -> impl std::future::Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    return tracing::Instrument::instrument(future, span);
    #[cfg(not(feature = "tracing"))]
    {
        let _ = span;
        future
    }
}

/// Enters the span of one decision; it ends when the guard drops.
pub(crate) fn decide(event: &Event) -> impl Sized {
    #[cfg(feature = "tracing")]
    return tracing::debug_span!(
        "referral.decide",
        program = %event.program,
        kind = event.kind.name(),
        key = %event.key,
    )
    .entered();
    #[cfg(not(feature = "tracing"))]
    {
        let _ = event;
        Span.entered()
    }
}

/// The answer a decision came to.
pub(crate) fn decided(answer: &Result<Outcome, Refusal>) {
    #[cfg(feature = "tracing")]
    match answer {
        Ok(outcome) => tracing::debug!(rewards = outcome.rewards.len(), "accepted"),
        Err(refusal) => tracing::debug!(refusal = refusal.code(), "refused"),
    }
    #[cfg(not(feature = "tracing"))]
    let _ = answer;
}

/// A commit landed, on attempt `attempt` (from 0), for `events` events.
pub(crate) fn committed(attempt: u32, events: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(attempt, events, "committed");
    #[cfg(not(feature = "tracing"))]
    let _ = (attempt, events);
}

/// A commit failed with `error` on attempt `attempt`; the event is decided again.
pub(crate) fn again(attempt: u32, error: &StoreError) {
    #[cfg(feature = "tracing")]
    {
        let why = match error {
            StoreError::Conflict { .. } => "conflict",
            StoreError::DuplicateEvent(_) => "duplicate",
            _ => "transient",
        };
        tracing::debug!(attempt, why, error = %error, "commit failed; deciding again");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (attempt, error);
}
