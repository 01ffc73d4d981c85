//! The ledger: rewards, their append-only entries, and balances.
//!
//! A [`Reward`] is what one participant earned by one rule on one event, with
//! the explanation of the arithmetic. Its money moves through [`LedgerEntry`]
//! records, which are never changed once written: a grant puts the amount in
//! `pending` (or straight in `available` without a hold), a release moves it
//! to `available`, a payout to `paid`, a redemption to `redeemed`, and a
//! reversal takes it back out of whichever bucket it sits in. A participant's
//! balance in a bucket is the sum of its entries in that bucket.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::id::{EntryId, EventKey, OrderId, ParticipantId, PayoutId, ProgramId, ReferralId, RewardId};
use super::value::{Asset, Checked, Value, ValueError, add_to};

/// Which balance an entry counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Bucket {
    /// Earned, waiting for its hold to end.
    Pending,
    /// Earned and free to pay out or redeem.
    Available,
    /// Paid out to the participant.
    Paid,
    /// Spent on a catalog item.
    Redeemed,
}

/// The role a beneficiary plays in the referral that earned a reward.
///
/// Written as text in serde formats: `"referrer"`, `"referee"`, `"actor"`,
/// and `"ancestor:2"` for a referrer's referrer (level 2), which
/// [`str::parse`] reads back.
///
/// ```
/// use referral_engine::domain::ledger::Role;
/// assert_eq!(serde_json::to_string(&Role::Referrer).unwrap(), r#""referrer""#);
/// assert_eq!(serde_json::to_string(&Role::Ancestor(2)).unwrap(), r#""ancestor:2""#);
/// assert_eq!("ancestor:3".parse::<Role>(), Ok(Role::Ancestor(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// The direct referrer.
    Referrer,
    /// The referred customer.
    Referee,
    /// A referrer's referrer, `n` levels above the referee (the direct referrer is level 1).
    Ancestor(u8),
    /// A participant rewarded for their own action, outside any referral.
    Actor,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Referrer => f.write_str("referrer"),
            Role::Referee => f.write_str("referee"),
            Role::Ancestor(level) => write!(f, "ancestor:{level}"),
            Role::Actor => f.write_str("actor"),
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "referrer" => Ok(Role::Referrer),
            "referee" => Ok(Role::Referee),
            "actor" => Ok(Role::Actor),
            _ => {
                s.strip_prefix("ancestor:").and_then(|level| level.parse().ok()).map(Role::Ancestor).ok_or_else(|| {
                    format!("{s:?} is not a role (\"referrer\", \"referee\", \"actor\", \"ancestor:2\")")
                })
            }
        }
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Reads the text where it lies: no string is allocated per record read.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Role;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a role: \"referrer\", \"referee\", \"actor\" or \"ancestor:<level>\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Role, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Text)
    }
}

/// How a reward responds to refunds of the order that earned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reversal {
    /// In proportion to what is refunded (a percentage of the order).
    #[default]
    Proportional,
    /// In full, once the order is refunded in full (a fixed bounty).
    OnFullRefund,
}

/// Where a reward stands: in serde formats `"available"`, `"in_review"`,
/// or `{"pending": "<until>"}`.
///
/// ```
/// use referral_engine::domain::ledger::RewardStatus;
/// assert_eq!(serde_json::to_string(&RewardStatus::Available).unwrap(), r#""available""#);
/// let held = RewardStatus::Pending("2026-01-08T09:00:00Z".parse().unwrap());
/// assert_eq!(serde_json::to_string(&held).unwrap(), r#"{"pending":"2026-01-08T09:00:00Z"}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RewardStatus {
    /// Held until the given time.
    Pending(DateTime<Utc>),
    /// Released to the available balance.
    Available,
    /// Earned on a referral awaiting review: held until approved.
    InReview,
}

/// One reward to one participant, with the rule that made it and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Reward {
    /// The reward's id.
    pub id: RewardId,
    /// The program.
    pub program: ProgramId,
    /// Who earned it.
    pub beneficiary: ParticipantId,
    /// Their role.
    pub role: Role,
    /// What was granted (after limits and rounding).
    pub value: Value,
    /// The rule (policy) that granted it.
    pub rule: String,
    /// The rule and the arithmetic, in words.
    pub explanation: String,
    /// The referral it was earned on, if any.
    pub referral: Option<ReferralId>,
    /// The referee of that referral.
    pub referee: Option<ParticipantId>,
    /// The order it was earned on, if any.
    pub order: Option<OrderId>,
    /// How refunds of that order reverse it.
    pub reversal: Reversal,
    /// How much has been reversed so far.
    pub reversed: Decimal,
    /// Pending or available.
    pub status: RewardStatus,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
    /// The event that granted it.
    pub event: EventKey,
}

impl Reward {
    /// The amount not yet reversed.
    pub fn outstanding(&self) -> Decimal {
        // Both are non-negative and `reversed` never exceeds the value.
        self.value.amount().saturating_sub(self.reversed)
    }
}

/// What an entry records: in serde formats `"grant"`, `"release"`,
/// `"reversal"`, `{"payout": "<batch>"}` or `{"redemption": "<item>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// A reward granted.
    Grant,
    /// A hold ended.
    Release,
    /// A refund or chargeback took (part of) a reward back.
    Reversal,
    /// Paid out in a batch.
    Payout(PayoutId),
    /// Spent on a catalog item.
    Redemption(String),
}

/// One immutable movement of value in or out of a participant's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LedgerEntry {
    /// The entry's id (UUID v7: entries sort by time).
    pub id: EntryId,
    /// The program.
    pub program: ProgramId,
    /// Whose balance it moves.
    pub participant: ParticipantId,
    /// The signed amount added to `bucket`.
    pub value: Value,
    /// The bucket it counts towards.
    pub bucket: Bucket,
    /// What it records.
    pub kind: EntryKind,
    /// The reward it belongs to, if any.
    pub reward: Option<RewardId>,
    /// Why, in words.
    pub explanation: String,
    /// The event that wrote it.
    pub event: EventKey,
    /// When.
    pub at: DateTime<Utc>,
}

/// A participant's balances in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Balance {
    /// The asset.
    pub asset: Asset,
    /// Held, not yet available.
    pub pending: Decimal,
    /// Free to pay out or redeem. Negative after a paid reward is reversed.
    pub available: Decimal,
    /// Paid out.
    pub paid: Decimal,
    /// Spent on catalog items.
    pub redeemed: Decimal,
}

impl Balance {
    /// An empty balance of an asset.
    pub fn zero(asset: Asset) -> Self {
        Self { asset, pending: Decimal::ZERO, available: Decimal::ZERO, paid: Decimal::ZERO, redeemed: Decimal::ZERO }
    }

    /// The amount in one bucket.
    pub fn bucket(&self, bucket: Bucket) -> Decimal {
        match bucket {
            Bucket::Pending => self.pending,
            Bucket::Available => self.available,
            Bucket::Paid => self.paid,
            Bucket::Redeemed => self.redeemed,
        }
    }

    pub(crate) fn apply(&mut self, bucket: Bucket, amount: Decimal) -> Result<(), ValueError> {
        let slot = match bucket {
            Bucket::Pending => &mut self.pending,
            Bucket::Available => &mut self.available,
            Bucket::Paid => &mut self.paid,
            Bucket::Redeemed => &mut self.redeemed,
        };
        add_to(slot, amount)
    }

    /// Everything earned and not reversed: pending + available + paid + redeemed.
    pub fn total(&self) -> Result<Decimal, ValueError> {
        self.pending.plus(self.available)?.plus(self.paid)?.plus(self.redeemed)
    }
}
