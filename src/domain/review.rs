//! Flagged referrals waiting for a reviewer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::id::{ParticipantId, ReferralId, RewardId};

/// A flagged referral in the review queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReviewItem {
    /// The referral.
    pub referral: ReferralId,
    /// Its referee.
    pub referee: ParticipantId,
    /// Its referrer.
    pub referrer: ParticipantId,
    /// The rule that flagged it.
    pub reason: String,
    /// When.
    pub flagged_at: DateTime<Utc>,
    /// Rewards held until the review.
    pub held: Vec<RewardId>,
}
