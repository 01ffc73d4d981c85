//! The engine's errors: each says what was wrong and with which value.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::code::{CodeError, ReferralCode};
use crate::domain::id::{EventKey, IdError, OrderId, ParticipantId, PayoutId, ProgramId};
use crate::domain::value::{Asset, Value, ValueError};
use crate::policy::PolicyError;
use crate::program::{ProgramError, ProgramStatus};
use crate::store::StoreError;

/// Why an event was refused. A refused event writes nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event names a program the engine does not run.
    #[error("unknown program {0}")]
    UnknownProgram(ProgramId),
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
    /// A program definition is invalid.
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    /// An argument is out of its range (of a read, or a simulation's assumptions).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The random source gave only codes already taken (it repeats).
    #[error("no fresh code in {0} draws: the random source repeats")]
    NoFreshCode(u32),
    /// Concurrent events kept changing the records this event needs.
    #[error("gave up after {0} conflicting attempts")]
    Contention(u32),
}
