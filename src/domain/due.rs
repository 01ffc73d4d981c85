//! Work due at a time: holds to release, referrals to expire.

use serde::{Deserialize, Serialize};

use crate::domain::id::{ParticipantId, ReferralId, RewardId};

/// Work due at a time: a hold to release or a referral to expire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Due {
    /// Release a reward's hold.
    Release(RewardId),
    /// Expire a referral that has not qualified (by then).
    Expire {
        /// The referral.
        referral: ReferralId,
        /// Its referee.
        referee: ParticipantId,
    },
}
