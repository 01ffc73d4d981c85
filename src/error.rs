//! The engine's errors: each says what was wrong and with which value.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::code::{CodeError, ReferralCode};
use crate::domain::id::{EventKey, IdError, OrderId, ParticipantId, PayoutId, ProgramId};
use crate::domain::value::{Asset, Value, ValueError};
use crate::policy::PolicyError;
use crate::program::{ProgramError, ProgramStatus};
use crate::store::StoreError;

/// Why an event was refused: a business answer about this event (an unknown
/// code, a refund larger than its order...). A refused event writes nothing;
/// the same event gets the same answer. Each has a stable [`code`](Self::code)
/// for a host to show, translate or count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The program is draft, paused or ended.
    #[error("program {program} is {status:?}, not active")]
    ProgramNotActive {
        /// The program.
        program: ProgramId,
        /// Its status.
        status: ProgramStatus,
    },
    /// The event falls before the program's start or after its end.
    #[error("program {program} does not run at {at}")]
    OutsideProgramDates {
        /// The program.
        program: ProgramId,
        /// The event's time.
        at: DateTime<Utc>,
    },
    /// The code could not be read.
    #[error(transparent)]
    MalformedCode(#[from] CodeError),
    /// No such code exists.
    #[error("unknown referral code {0}")]
    UnknownCode(ReferralCode),
    /// A single-use code was already redeemed.
    #[error("single-use code {0} was already redeemed")]
    CodeAlreadyRedeemed(ReferralCode),
    /// A vanity code is taken.
    #[error("code {0} is already taken")]
    CodeTaken(ReferralCode),
    /// A participant tried to refer themselves.
    #[error("{0} cannot refer themselves")]
    SelfReferral(ParticipantId),
    /// The referee was already referred (first-touch, or the attribution is locked).
    #[error("{referee} was already referred")]
    AlreadyReferred {
        /// The referee.
        referee: ParticipantId,
    },
    /// The referral would close a cycle (the referee is above the referrer).
    #[error("{referee} is above {referrer} in the referral chain; the referral would form a cycle")]
    ReferralCycle {
        /// The referee.
        referee: ParticipantId,
        /// The referrer.
        referrer: ParticipantId,
    },
    /// The sign-up came after the attribution window.
    #[error("sign-up at {at} is past the {window_days}-day attribution window from the click at {clicked_at}")]
    AttributionWindowPassed {
        /// When the link was clicked.
        clicked_at: DateTime<Utc>,
        /// When the sign-up came.
        at: DateTime<Utc>,
        /// The window.
        window_days: u32,
    },
    /// An amount was zero or negative.
    #[error("amount {0} is not above zero")]
    InvalidAmount(Value),
    /// An amount in the wrong asset.
    #[error("expected an amount in {expected}, got {found}")]
    CurrencyMismatch {
        /// The program's or order's asset.
        expected: Asset,
        /// The event's asset.
        found: Asset,
    },
    /// A refund larger than what is left of the order.
    #[error("refund of {requested} exceeds the {remaining} left of order {order}")]
    RefundExceedsOrder {
        /// The order.
        order: OrderId,
        /// The refund asked for, in the order's currency.
        requested: Decimal,
        /// What is left to refund.
        remaining: Decimal,
    },
    /// A refund of an order the engine never saw.
    #[error("unknown order {0}")]
    UnknownOrder(OrderId),
    /// An order id seen before.
    #[error("order {0} was already recorded")]
    DuplicateOrder(OrderId),
    /// The participant is already enrolled.
    #[error("{0} is already enrolled")]
    DuplicateEnrollment(ParticipantId),
    /// The enrollment rule refused the participant.
    #[error("{0} does not meet the program's enrollment rule")]
    NotEligible(ParticipantId),
    /// The participant is not an enrolled referrer.
    #[error("{0} is not enrolled as a referrer")]
    NotEnrolled(ParticipantId),
    /// No referral of this referee awaits review.
    #[error("no referral of {0} awaits review")]
    NotInReview(ParticipantId),
    /// A signal could not be used.
    #[error("signal of kind {kind:?} is not valid: {reason}")]
    InvalidSignal {
        /// Its kind.
        kind: crate::fraud::SignalKind,
        /// What is wrong.
        reason: &'static str,
    },
    /// The engine has no such participant.
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    /// The idempotency key was used before for a different event.
    #[error("event key {0} was already used for a different event")]
    KeyReused(EventKey),
    /// The event was handled before, longer ago than the engine keeps
    /// outcomes ([`Engine::with_outcome_retention`](crate::Engine::with_outcome_retention)):
    /// it took effect once, and its outcome is no longer kept.
    #[error("event {key} was handled at {handled_at}; its outcome is past the retention window")]
    AlreadyHandled {
        /// The event's key.
        key: EventKey,
        /// When it was handled.
        handled_at: chrono::DateTime<chrono::Utc>,
    },
    /// A host id was invalid.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// No catalog item has that id.
    #[error("unknown catalog item {0:?}")]
    UnknownItem(String),
    /// The catalog item is out of stock.
    #[error("catalog item {0:?} is out of stock")]
    OutOfStock(String),
    /// Not enough available balance.
    #[error("{participant} has {available} available; {price} is needed")]
    InsufficientBalance {
        /// Who.
        participant: ParticipantId,
        /// What they have available, in the price's asset.
        available: Decimal,
        /// What is needed.
        price: Value,
    },
    /// A payout batch id used before.
    #[error("payout {0} was already made")]
    DuplicatePayout(PayoutId),
    /// An event whose fields do not hold together.
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// Arithmetic on values failed.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A policy failed.
    #[error("policy {rule} failed")]
    Policy {
        /// The rule.
        rule: String,
        /// Why.
        #[source]
        source: PolicyError,
    },
    /// The participant is suspended: they can neither redeem nor be paid.
    #[error("{0} is suspended")]
    Suspended(ParticipantId),
    /// A date the event would need (`now` plus a program duration) falls
    /// outside the years 1 to 9999 that the engine can store.
    #[error("the date {what} leads to is out of range")]
    DateOutOfRange {
        /// The duration or argument that leads there.
        what: &'static str,
    },
}

/// A call that failed: the store, the configuration, contention. Refusals of
/// an event are [`Refusal`]s, returned as values by
/// [`Engine::handle`](crate::Engine::handle); [`Error::Refused`] carries one
/// where a call has no other way to say it (a read with a malformed code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was refused: see [`Refusal`].
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The event names a program the engine does not run.
    #[error("unknown program {0}")]
    UnknownProgram(ProgramId),
    /// A program definition is invalid.
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An argument is out of its range (of a read, or a simulation's assumptions).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The random source gave only codes already taken (it repeats).
    #[error("no fresh code in {0} draws: the random source repeats")]
    NoFreshCode(u32),
    /// Concurrent events kept changing the records this event needs.
    #[error("gave up after {0} conflicting attempts")]
    Contention(u32),
    /// A [`handle_batch`](crate::Engine::handle_batch) of more events than
    /// one commit takes ([`MAX_BATCH`](crate::engine::MAX_BATCH)); nothing
    /// was decided or written. Send it in batches of at most `max`.
    #[error("a batch of {len} events is more than one commit takes ({max}); send it in batches of at most {max}")]
    BatchTooLarge {
        /// The events sent.
        len: usize,
        /// The most one batch takes.
        max: usize,
    },
}

/// What an [`Error`] means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The event or the call was refused: a business answer about this
    /// input (an unknown code, a refund larger than the order...). The same
    /// input gets the same answer; show it to whoever sent it.
    Refused,
    /// A passing failure (contention, a deadlock, a busy database): the same
    /// event again may succeed, and can never apply twice.
    Transient,
    /// The store or the configuration is broken (a corrupt record, a lost
    /// connection, an unknown program): retrying does not help until it is fixed.
    Failed,
}

impl Refusal {
    /// A stable, machine-readable name for this refusal (`"unknown_code"`,
    /// `"refund_exceeds_order"`...), for a host to show, translate or count.
    /// It never changes for a given variant.
    ///
    /// ```
    /// use referral_engine::Refusal;
    /// use referral_engine::domain::code::ReferralCode;
    /// let refused = Refusal::UnknownCode(ReferralCode::parse("SVMMER26").unwrap());
    /// assert_eq!(refused.code(), "unknown_code");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ProgramNotActive { .. } => "program_not_active",
            Refusal::OutsideProgramDates { .. } => "outside_program_dates",
            Refusal::MalformedCode(_) => "malformed_code",
            Refusal::UnknownCode(_) => "unknown_code",
            Refusal::CodeAlreadyRedeemed(_) => "code_already_redeemed",
            Refusal::CodeTaken(_) => "code_taken",
            Refusal::SelfReferral(_) => "self_referral",
            Refusal::AlreadyReferred { .. } => "already_referred",
            Refusal::ReferralCycle { .. } => "referral_cycle",
            Refusal::AttributionWindowPassed { .. } => "attribution_window_passed",
            Refusal::InvalidAmount(_) => "invalid_amount",
            Refusal::CurrencyMismatch { .. } => "currency_mismatch",
            Refusal::RefundExceedsOrder { .. } => "refund_exceeds_order",
            Refusal::UnknownOrder(_) => "unknown_order",
            Refusal::DuplicateOrder(_) => "duplicate_order",
            Refusal::DuplicateEnrollment(_) => "duplicate_enrollment",
            Refusal::NotEligible(_) => "not_eligible",
            Refusal::NotEnrolled(_) => "not_enrolled",
            Refusal::NotInReview(_) => "not_in_review",
            Refusal::InvalidSignal { .. } => "invalid_signal",
            Refusal::UnknownParticipant(_) => "unknown_participant",
            Refusal::KeyReused(_) => "key_reused",
            Refusal::AlreadyHandled { .. } => "already_handled",
            Refusal::InvalidId(_) => "invalid_id",
            Refusal::UnknownItem(_) => "unknown_item",
            Refusal::OutOfStock(_) => "out_of_stock",
            Refusal::InsufficientBalance { .. } => "insufficient_balance",
            Refusal::DuplicatePayout(_) => "duplicate_payout",
            Refusal::InvalidEvent(_) => "invalid_event",
            Refusal::Value(_) => "value",
            Refusal::Policy { .. } => "policy",
            Refusal::Suspended(_) => "suspended",
            Refusal::DateOutOfRange { .. } => "date_out_of_range",
        }
    }
}

/// A refusal as a host returns it to whoever sent the event: its stable
/// [`code`](Refusal::code), its message (the `Display` text) and the values
/// it names, flat:
///
/// ```
/// use referral_engine::Refusal;
/// let refused = Refusal::UnknownParticipant("bob".parse().unwrap());
/// assert_eq!(
///     serde_json::to_string(&refused).unwrap(),
///     r#"{"code":"unknown_participant","message":"unknown participant bob","participant":"bob"}"#,
/// );
/// ```
///
/// The names of the values are part of the wire form: `program`, `status`,
/// `at`, `referral_code`, `participant`, `referee`, `referrer`,
/// `clicked_at`, `window_days`, `value`, `expected`, `found`, `order`,
/// `requested`, `remaining`, `kind`, `reason`, `key`, `handled_at`, `item`,
/// `available`, `price`, `payout`, `rule`, `what`. A refusal about a value that
/// could not be read (a malformed code or id, an invalid event, arithmetic)
/// says it in its message alone.
impl serde::Serialize for Refusal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        match self {
            Refusal::ProgramNotActive { program, status } => {
                map.serialize_entry("program", program)?;
                map.serialize_entry("status", status)?;
            }
            Refusal::OutsideProgramDates { program, at } => {
                map.serialize_entry("program", program)?;
                map.serialize_entry("at", at)?;
            }
            Refusal::UnknownCode(code) | Refusal::CodeAlreadyRedeemed(code) | Refusal::CodeTaken(code) => {
                map.serialize_entry("referral_code", code)?;
            }
            Refusal::SelfReferral(who)
            | Refusal::DuplicateEnrollment(who)
            | Refusal::NotEligible(who)
            | Refusal::NotEnrolled(who)
            | Refusal::NotInReview(who)
            | Refusal::UnknownParticipant(who)
            | Refusal::Suspended(who) => map.serialize_entry("participant", who)?,
            Refusal::AlreadyReferred { referee } => map.serialize_entry("referee", referee)?,
            Refusal::ReferralCycle { referee, referrer } => {
                map.serialize_entry("referee", referee)?;
                map.serialize_entry("referrer", referrer)?;
            }
            Refusal::AttributionWindowPassed { clicked_at, at, window_days } => {
                map.serialize_entry("clicked_at", clicked_at)?;
                map.serialize_entry("at", at)?;
                map.serialize_entry("window_days", window_days)?;
            }
            Refusal::InvalidAmount(value) => map.serialize_entry("value", value)?,
            Refusal::CurrencyMismatch { expected, found } => {
                map.serialize_entry("expected", expected)?;
                map.serialize_entry("found", found)?;
            }
            Refusal::RefundExceedsOrder { order, requested, remaining } => {
                map.serialize_entry("order", order)?;
                map.serialize_entry("requested", requested)?;
                map.serialize_entry("remaining", remaining)?;
            }
            Refusal::UnknownOrder(order) | Refusal::DuplicateOrder(order) => map.serialize_entry("order", order)?,
            Refusal::InvalidSignal { kind, reason } => {
                map.serialize_entry("kind", kind)?;
                map.serialize_entry("reason", reason)?;
            }
            Refusal::KeyReused(key) => map.serialize_entry("key", key)?,
            Refusal::AlreadyHandled { key, handled_at } => {
                map.serialize_entry("key", key)?;
                map.serialize_entry("handled_at", handled_at)?;
            }
            Refusal::UnknownItem(item) | Refusal::OutOfStock(item) => map.serialize_entry("item", item)?,
            Refusal::InsufficientBalance { participant, available, price } => {
                map.serialize_entry("participant", participant)?;
                map.serialize_entry("available", available)?;
                map.serialize_entry("price", price)?;
            }
            Refusal::DuplicatePayout(payout) => map.serialize_entry("payout", payout)?,
            Refusal::Policy { rule, .. } => map.serialize_entry("rule", rule)?,
            Refusal::DateOutOfRange { what } => map.serialize_entry("what", what)?,
            Refusal::MalformedCode(_) | Refusal::InvalidId(_) | Refusal::InvalidEvent(_) | Refusal::Value(_) => {}
        }
        map.end()
    }
}

/// Errors of the input's own types are refusals wherever `?` meets them.
macro_rules! refused_from {
    ($($source:ty),*) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::Refused(e.into())
            }
        }
    )*};
}

refused_from!(CodeError, IdError, ValueError);

impl Error {
    /// A stable, machine-readable name for this error: a refusal's
    /// [`code`](Refusal::code), else `"store_conflict"`, `"store_transient"`,
    /// `"store_corrupt"`, `"contention"`, `"unknown_program"`...
    pub fn code(&self) -> &'static str {
        match self {
            Error::Refused(refusal) => refusal.code(),
            Error::Store(StoreError::Conflict { .. }) => "store_conflict",
            Error::Store(StoreError::DuplicateEvent(_)) => "store_duplicate_event",
            Error::Store(StoreError::Corrupt { .. }) => "store_corrupt",
            Error::Store(StoreError::Transient(_)) => "store_transient",
            Error::Store(StoreError::DataFormat { .. }) => "store_data_format",
            Error::Store(StoreError::Isolation { .. }) => "store_isolation",
            Error::Store(_) => "store_failed",
            Error::UnknownProgram(_) => "unknown_program",
            Error::Program(_) => "program",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::NoFreshCode(_) => "no_fresh_code",
            Error::Contention(_) => "contention",
            Error::BatchTooLarge { .. } => "batch_too_large",
        }
    }

    /// Whether this is a refusal, a passing failure or a lasting one.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Refused(_) => ErrorKind::Refused,
            Error::Contention(_)
            | Error::Store(StoreError::Conflict { .. } | StoreError::DuplicateEvent(_) | StoreError::Transient(_)) => {
                ErrorKind::Transient
            }
            _ => ErrorKind::Failed,
        }
    }

    /// Whether sending the same event again may succeed
    /// ([`ErrorKind::Transient`]).
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Transient
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::value::Currency;
    use crate::fraud::SignalKind;

    /// One error of each variant.
    fn every_variant() -> Vec<Error> {
        let (p, who) = (ProgramId::new("p").unwrap(), ParticipantId::new("ann").unwrap());
        let code = ReferralCode::parse("SVMMER26").unwrap();
        let order = OrderId::new("o1").unwrap();
        let usd = Asset::Money(Currency::new("USD", 2).unwrap());
        let value: Value = "1.00 USD".parse().unwrap();
        let at = DateTime::<Utc>::default();
        vec![
            Error::UnknownProgram(p.clone()),
            Error::Refused(Refusal::ProgramNotActive { program: p.clone(), status: ProgramStatus::Paused }),
            Error::Refused(Refusal::OutsideProgramDates { program: p, at }),
            Error::Refused(Refusal::MalformedCode(ReferralCode::parse("!").unwrap_err())),
            Error::Refused(Refusal::UnknownCode(code.clone())),
            Error::Refused(Refusal::CodeAlreadyRedeemed(code.clone())),
            Error::Refused(Refusal::CodeTaken(code)),
            Error::Refused(Refusal::SelfReferral(who.clone())),
            Error::Refused(Refusal::AlreadyReferred { referee: who.clone() }),
            Error::Refused(Refusal::ReferralCycle { referee: who.clone(), referrer: who.clone() }),
            Error::Refused(Refusal::AttributionWindowPassed { clicked_at: at, at, window_days: 1 }),
            Error::Refused(Refusal::InvalidAmount(value.clone())),
            Error::Refused(Refusal::CurrencyMismatch { expected: usd.clone(), found: usd }),
            Error::Refused(Refusal::RefundExceedsOrder {
                order: order.clone(),
                requested: Decimal::ONE,
                remaining: Decimal::ZERO,
            }),
            Error::Refused(Refusal::UnknownOrder(order.clone())),
            Error::Refused(Refusal::DuplicateOrder(order)),
            Error::Refused(Refusal::DuplicateEnrollment(who.clone())),
            Error::Refused(Refusal::NotEligible(who.clone())),
            Error::Refused(Refusal::NotEnrolled(who.clone())),
            Error::Refused(Refusal::NotInReview(who.clone())),
            Error::Refused(Refusal::InvalidSignal { kind: SignalKind::Email, reason: "x" }),
            Error::Refused(Refusal::UnknownParticipant(who.clone())),
            Error::Refused(Refusal::KeyReused(EventKey::new("e").unwrap())),
            Error::Refused(Refusal::InvalidId(ProgramId::new("").unwrap_err())),
            Error::Refused(Refusal::UnknownItem("i".into())),
            Error::Refused(Refusal::OutOfStock("i".into())),
            Error::Refused(Refusal::InsufficientBalance {
                participant: who.clone(),
                available: Decimal::ZERO,
                price: value,
            }),
            Error::Refused(Refusal::DuplicatePayout(PayoutId::new("x").unwrap())),
            Error::Refused(Refusal::InvalidEvent("x".into())),
            Error::Refused(Refusal::Value(ValueError::Overflow)),
            Error::Refused(Refusal::Policy { rule: "r".into(), source: PolicyError::Other("x".into()) }),
            Error::Program(ProgramError::Invalid { field: "f".into(), reason: "r".into() }),
            Error::Store(StoreError::Transient("x".into())),
            Error::Store(StoreError::Backend("x".into())),
            Error::Store(StoreError::Conflict {
                key: crate::store::Key::from_stored("k".into()),
                expected: 1,
                found: 2,
            }),
            Error::Store(StoreError::DuplicateEvent(EventKey::new("e").unwrap())),
            Error::Store(StoreError::Corrupt { key: "k".into(), reason: "r".into() }),
            Error::Store(StoreError::DataFormat { found: 1, supported: 3, what: "x".into() }),
            Error::Store(StoreError::Isolation { level: "repeatable read" }),
            Error::Refused(Refusal::Suspended(who)),
            Error::Refused(Refusal::DateOutOfRange { what: "x" }),
            Error::InvalidArgument("x"),
            Error::NoFreshCode(1),
            Error::Contention(1),
            Error::BatchTooLarge { len: 2, max: 1 },
        ]
    }

    #[test]
    fn every_error_has_its_own_stable_snake_case_code() {
        let errors = every_variant();
        let codes: BTreeSet<&str> = errors.iter().map(Error::code).collect();
        assert_eq!(codes.len(), errors.len(), "two variants share a code");
        assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
        assert_eq!(errors[4].code(), "unknown_code");
        assert_eq!(errors[13].code(), "refund_exceeds_order");
    }

    #[test]
    fn every_refusal_serializes_flat_with_its_code_and_message() {
        for error in every_variant() {
            let Error::Refused(refusal) = error else { continue };
            let json = serde_json::to_value(&refusal).unwrap();
            let object = json.as_object().unwrap();
            assert_eq!(object["code"], refusal.code());
            assert_eq!(object["message"], refusal.to_string());
            assert!(object.values().all(|v| !v.is_object()), "nested: {json}");
        }
        let refusal = Refusal::RefundExceedsOrder {
            order: OrderId::new("o1").unwrap(),
            requested: "12.50".parse().unwrap(),
            remaining: "10.00".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&refusal).unwrap(),
            serde_json::json!({"code": "refund_exceeds_order",
                "message": "refund of 12.50 exceeds the 10.00 left of order o1",
                "order": "o1", "requested": "12.50", "remaining": "10.00"}),
        );
    }

    #[test]
    fn refusals_failures_and_passing_failures_are_told_apart() {
        let kinds: Vec<(&str, ErrorKind)> = every_variant().iter().map(|e| (e.code(), e.kind())).collect();
        let of = |kind| kinds.iter().filter(|(_, k)| *k == kind).map(|(c, _)| *c).collect::<Vec<_>>();
        assert_eq!(
            of(ErrorKind::Transient),
            ["store_transient", "store_conflict", "store_duplicate_event", "contention"]
        );
        assert_eq!(
            of(ErrorKind::Failed),
            [
                "unknown_program",
                "program",
                "store_failed",
                "store_corrupt",
                "store_data_format",
                "store_isolation",
                "invalid_argument",
                "no_fresh_code",
                "batch_too_large"
            ]
        );
        assert!(
            Error::Contention(1).is_retryable()
                && !Error::Refused(Refusal::Suspended(ParticipantId::new("a").unwrap())).is_retryable()
        );
    }
}
