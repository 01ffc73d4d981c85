//! Commands: what an operator or the host's jobs ask of a program (codes,
//! suspensions, redemptions, reviews, payouts, acknowledgements). Built with
//! `new` from the required fields, and `with_*`/`at_least` for the optional
//! ones.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::id::{ParticipantId, PayoutId};
use crate::domain::value::Asset;
use crate::event::NotificationId;

/// An enrolled referrer gets another code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssueCode {
    /// The referrer who gets the code.
    pub participant: ParticipantId,
    /// A code of their choosing instead of a generated one.
    #[serde(default)]
    pub vanity_code: Option<String>,
}

impl IssueCode {
    /// A generated code for `participant`.
    pub fn new(participant: ParticipantId) -> Self {
        Self { participant, vanity_code: None }
    }

    /// A vanity code instead of a generated one.
    pub fn with_vanity_code(mut self, code: impl Into<String>) -> Self {
        self.vanity_code = Some(code.into());
        self
    }
}

/// A partner gets a batch of single-use codes, each redeemable once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuePartnerCodes {
    /// The partner (an enrolled participant).
    pub partner: ParticipantId,
    /// How many codes (1 to 10,000).
    pub count: u32,
}

impl IssuePartnerCodes {
    /// `count` single-use codes for `partner`.
    pub fn new(partner: ParticipantId, count: u32) -> Self {
        Self { partner, count }
    }
}

/// A participant is suspended: they earn nothing new until reinstated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Suspend {
    /// The participant suspended.
    pub participant: ParticipantId,
}

impl Suspend {
    /// Suspends `participant`.
    pub fn new(participant: ParticipantId) -> Self {
        Self { participant }
    }
}

/// A suspension ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Reinstate {
    /// The participant reinstated.
    pub participant: ParticipantId,
}

impl Reinstate {
    /// Reinstates `participant`.
    pub fn new(participant: ParticipantId) -> Self {
        Self { participant }
    }
}

/// A participant redeems points for an item of the program's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Redeem {
    /// The participant who redeems.
    pub participant: ParticipantId,
    /// The catalog item's id.
    pub item: String,
}

impl Redeem {
    /// `participant` redeems `item`.
    pub fn new(participant: ParticipantId, item: impl Into<String>) -> Self {
        Self { participant, item: item.into() }
    }
}

/// A reviewer approves a flagged referral: its rewards are released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Approve {
    /// The referee of the flagged referral.
    pub referee: ParticipantId,
}

impl Approve {
    /// Approves the flagged referral of `referee`.
    pub fn new(referee: ParticipantId) -> Self {
        Self { referee }
    }
}

/// A reviewer rejects a flagged referral: its rewards are reversed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Reject {
    /// The referee of the flagged referral.
    pub referee: ParticipantId,
    /// Why, in the reviewer's words (kept in the audit trail).
    pub reason: String,
}

impl Reject {
    /// Rejects the flagged referral of `referee`, for `reason`.
    pub fn new(referee: ParticipantId, reason: impl Into<String>) -> Self {
        Self { referee, reason: reason.into() }
    }
}

/// Available balances of one asset, at or above a minimum, are marked paid
/// (in pages: see [`Notice::PayoutContinues`](crate::Notice::PayoutContinues)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Payout {
    /// The batch's id (a batch pays each participant once).
    pub payout: PayoutId,
    /// The asset paid out.
    pub asset: Asset,
    /// The least a participant must have available to be paid.
    #[serde(default)]
    pub minimum: Option<Decimal>,
}

impl Payout {
    /// Pays every available balance of `asset`, however small.
    pub fn new(payout: PayoutId, asset: Asset) -> Self {
        Self { payout, asset, minimum: None }
    }

    /// Pays only balances of at least `minimum`.
    pub fn at_least(mut self, minimum: Decimal) -> Self {
        self.minimum = Some(minimum);
        self
    }
}

/// The host sent these outbox notifications: they leave the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Acknowledge {
    /// The notifications sent.
    pub notifications: Vec<NotificationId>,
}

impl Acknowledge {
    /// Acknowledges `notifications`.
    pub fn new(notifications: impl IntoIterator<Item = NotificationId>) -> Self {
        Self { notifications: notifications.into_iter().collect() }
    }
}
