//! Orders the engine has seen, kept for refunds.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::id::{OrderId, ParticipantId, ReferralId, RewardId};
use crate::domain::value::Value;

/// An order the engine has seen, for refunds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
