//! Participants: referrers and referees as one program knows them.

use std::collections::BTreeMap;

use litemap::LiteMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::code::ReferralCode;
use super::id::{ParticipantId, ProgramId};
use super::ledger::{Balance, Bucket};
use super::value::{Asset, Value};

/// An attribute the host passes about a participant (a segment, an NPS score).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Attribute {
    /// A yes/no attribute.
    Flag(bool),
    /// A number.
    Number(Decimal),
    /// Text.
    Text(String),
}

/// Attributes by name.
pub type Attributes = BTreeMap<String, Attribute>;

/// A referrer's running statistics in one program.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReferrerStats {
    /// Invites sent.
    pub invites: u64,
    /// Sign-ups with their codes (attributed referrals).
    pub signups: u64,
    /// Referrals that qualified ("leads").
    pub qualified: u64,
    /// Referees who made at least one purchase ("sales").
    pub sales: u64,
    /// Referrals on which they were granted a referrer reward.
    pub rewarded_referrals: u64,
    /// Net earned as referrer or ancestor, per asset (for per-referrer caps).
    pub earned: LiteMap<Asset, Decimal>,
}

impl ReferrerStats {
    /// Lead-to-sale conversion in per cent (zero with no leads).
    pub fn conversion_percent(&self) -> Decimal {
        if self.qualified == 0 {
            return Decimal::ZERO;
        }
        // u64 counts times 100 fit a decimal; the divisor is not zero.
        Decimal::from(self.sales)
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|x| x.checked_div(Decimal::from(self.qualified)))
            .unwrap_or(Decimal::ZERO)
    }

    /// Net earned in one asset.
    pub fn earned_in(&self, asset: &Asset) -> Decimal {
        self.earned.get(asset).copied().unwrap_or_default()
    }
}

/// A participant of one program: enrolled referrer, referee, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Participant {
    /// The program.
    pub program: ProgramId,
    /// The host's id.
    pub id: ParticipantId,
    /// When they enrolled as a referrer, if they have.
    pub enrolled_at: Option<DateTime<Utc>>,
    /// When they first appeared (enrolled or signed up).
    pub joined_at: DateTime<Utc>,
    /// Suspended participants earn nothing new.
    pub suspended: bool,
    /// The segment the host assigned (routes policies).
    pub segment: Option<String>,
    /// The A/B variant the referrer was assigned at enrollment, if the program has variants.
    #[serde(default)]
    pub variant: Option<String>,
    /// Attributes passed at enrollment.
    pub attributes: Attributes,
    /// Their codes.
    pub codes: Vec<ReferralCode>,
    /// Who referred them, if anyone.
    pub referred_by: Option<ParticipantId>,
    /// Their statistics as a referrer.
    pub stats: ReferrerStats,
    /// Their balances, one per asset.
    pub balances: LiteMap<Asset, Balance>,
    /// Times of their recent referrals, for the velocity limit.
    pub recent_referrals: Vec<DateTime<Utc>>,
    /// Their identity signals, hashed.
    #[serde(default)]
    pub signals: Vec<crate::fraud::Signal>,
}

impl Participant {
    pub(crate) fn new(program: ProgramId, id: ParticipantId, now: DateTime<Utc>) -> Self {
        Self {
            program,
            id,
            enrolled_at: None,
            joined_at: now,
            suspended: false,
            segment: None,
            variant: None,
            attributes: Attributes::new(),
            codes: Vec::new(),
            referred_by: None,
            stats: ReferrerStats::default(),
            balances: LiteMap::new(),
            recent_referrals: Vec::new(),
            signals: Vec::new(),
        }
    }

    /// The balance in one asset (zero when none).
    pub fn balance(&self, asset: &Asset) -> Balance {
        self.balances.get(asset).cloned().unwrap_or_else(|| Balance::zero(asset.clone()))
    }

    pub(crate) fn post(&mut self, value: &Value, bucket: Bucket) -> Result<(), crate::domain::value::ValueError> {
        self.balances
            .entry(value.asset().clone())
            .or_insert_with(|| Balance::zero(value.asset().clone()))
            .apply(bucket, value.amount())
    }
}
