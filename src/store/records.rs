//! The records the engine keeps, besides the domain types themselves.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::code::ReferralCode;
use crate::domain::id::{OrderId, ParticipantId, PayoutId, ProgramId, ReferralId, RewardId};
use crate::domain::ledger::{LedgerEntry, Reward};
use crate::domain::participant::Participant;
use crate::domain::referral::Referral;
use crate::domain::value::{Asset, Value};
use crate::event::{Event, Outcome};

/// How a code may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeUse {
    /// Any number of sign-ups.
    Reusable,
    /// One sign-up; `Some` once redeemed.
    SingleUse(Option<ParticipantId>),
}

/// A code and the (program, participant) it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeRecord {
    /// The normalized code.
    pub code: ReferralCode,
    /// Its program.
    pub program: ProgramId,
    /// Whom it attributes to.
    pub owner: ParticipantId,
    /// Reusable or single-use.
    pub usage: CodeUse,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// Program-wide counters and budget use, updated in the same commit as the event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProgramState {
    /// Invites sent.
    pub invites: u64,
    /// Sign-ups attributed.
    pub signups: u64,
    /// Referrals qualified.
    pub qualified: u64,
    /// Referrals rewarded.
    pub rewarded: u64,
    /// Referrals expired.
    pub expired: u64,
    /// Referrals reversed.
    pub reversed: u64,
    /// Referrals rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Net granted per asset (what budgets are measured against).
    pub granted: BTreeMap<Asset, Decimal>,
    /// Revenue from referred customers, net of refunds.
    pub revenue: Decimal,
    /// Catalog items redeemed, by id.
    pub redeemed_items: BTreeMap<String, u64>,
    /// Payout batch ids used.
    pub payouts: BTreeSet<PayoutId>,
}

impl ProgramState {
    /// Net granted in one asset.
    pub fn granted_in(&self, asset: &Asset) -> Decimal {
        self.granted.get(asset).copied().unwrap_or_default()
    }
}

/// An order the engine has seen, for refunds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Order {
    /// The order id.
    pub id: OrderId,
    /// Who paid.
    pub customer: ParticipantId,
    /// The referral it was attributed to, if any.
    pub referral: Option<ReferralId>,
    /// What was paid.
    pub amount: Value,
    /// Refunded so far.
    pub refunded: Decimal,
    /// The rewards it earned.
    pub rewards: Vec<RewardId>,
    /// Whether it qualified its referral.
    pub qualifying: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// Work due at a time: a hold to release or a referral to expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Due {
    /// Release a reward's hold.
    Release(RewardId),
    /// Expire a referral that has not qualified.
    Expire(ParticipantId),
}

/// Any record a store keeps under a [`Key`](super::Key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// A participant.
    Participant(Box<Participant>),
    /// A code.
    Code(CodeRecord),
    /// A referral.
    Referral(Box<Referral>),
    /// A reward.
    Reward(Box<Reward>),
    /// A ledger entry.
    Entry(Box<LedgerEntry>),
    /// Program counters.
    Program(Box<ProgramState>),
    /// An order.
    Order(Box<Order>),
    /// Due work.
    Due(Due),
}

/// An event and its outcome, as stored under the event's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredEvent {
    /// The event as first handled.
    pub event: Event,
    /// Its outcome.
    pub outcome: Outcome,
}

pub(crate) trait RecordKind: Sized {
    fn from_record(record: Record) -> Option<Self>;
    fn into_record(self) -> Record;
}

macro_rules! record_kind {
    ($variant:ident, $ty:ty, boxed) => {
        impl RecordKind for $ty {
            fn from_record(record: Record) -> Option<Self> {
                match record {
                    Record::$variant(x) => Some(*x),
                    _ => None,
                }
            }
            fn into_record(self) -> Record {
                Record::$variant(Box::new(self))
            }
        }
    };
    ($variant:ident, $ty:ty) => {
        impl RecordKind for $ty {
            fn from_record(record: Record) -> Option<Self> {
                match record {
                    Record::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn into_record(self) -> Record {
                Record::$variant(self)
            }
        }
    };
}

record_kind!(Participant, Participant, boxed);
record_kind!(Referral, Referral, boxed);
record_kind!(Reward, Reward, boxed);
record_kind!(Entry, LedgerEntry, boxed);
record_kind!(Program, ProgramState, boxed);
record_kind!(Order, Order, boxed);
record_kind!(Code, CodeRecord);
record_kind!(Due, Due);
