//! What an event changed, for the host to turn into messages.

use serde::{Deserialize, Serialize};

use crate::domain::code::ReferralCode;
use crate::domain::id::{ParticipantId, PayoutId, ReferralId, RewardId};
use crate::domain::referral::RejectReason;
use crate::domain::value::Value;

/// Why a grant was cut or withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitReason {
    /// The referrer already reached the most rewarded referrals.
    MaxRewardedReferrals(u64),
    /// The referrer's cap for the asset.
    ReferrerCap(Value),
    /// The program's budget for the asset.
    Budget(Value),
    /// The beneficiary is suspended.
    Suspended,
    /// The rule pays once per referee and has already paid this role for
    /// this referee (under this attribution or one it superseded).
    AlreadyPaid,
}

/// A domain event, for the host to turn into messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum Notice {
    /// A participant enrolled.
    Enrolled {
        /// Who.
        participant: ParticipantId,
    },
    /// A code was issued.
    CodeIssued {
        /// To whom.
        participant: ParticipantId,
        /// The code.
        code: ReferralCode,
    },
    /// A referral was attributed.
    ReferralAttributed {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
        /// The referee.
        referee: ParticipantId,
    },
    /// A referral qualified.
    ReferralQualified {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
        /// The referee.
        referee: ParticipantId,
    },
    /// A referral was flagged for review; its rewards wait for approval.
    ReferralFlagged {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
        /// Which rule flagged it.
        reason: String,
    },
    /// A reviewer approved a flagged referral.
    ReferralApproved {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
    },
    /// A referral was rejected.
    ReferralRejected {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
        /// Why.
        reason: RejectReason,
    },
    /// A referral expired.
    ReferralExpired {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
    },
    /// A referral was reversed by a full refund.
    ReferralReversed {
        /// The referral.
        referral: ReferralId,
        /// The referrer.
        referrer: ParticipantId,
    },
    /// A reward was granted.
    RewardGranted {
        /// The reward.
        reward: RewardId,
        /// To whom.
        beneficiary: ParticipantId,
        /// How much.
        value: Value,
    },
    /// A reward's hold ended.
    RewardAvailable {
        /// The reward.
        reward: RewardId,
        /// Whose.
        beneficiary: ParticipantId,
        /// How much became available.
        value: Value,
    },
    /// (Part of) a reward was reversed.
    RewardReversed {
        /// The reward.
        reward: RewardId,
        /// Whose.
        beneficiary: ParticipantId,
        /// How much.
        value: Value,
    },
    /// A grant was cut by a limit.
    RewardCut {
        /// Who.
        beneficiary: ParticipantId,
        /// The rule.
        rule: String,
        /// What the policy asked for.
        asked: Value,
        /// What was granted.
        granted: Value,
        /// Which limit.
        reason: LimitReason,
    },
    /// A grant was withheld by a limit.
    RewardWithheld {
        /// Who.
        beneficiary: ParticipantId,
        /// The rule.
        rule: String,
        /// What the policy asked for.
        asked: Value,
        /// Which limit.
        reason: LimitReason,
    },
    /// Points were redeemed.
    Redeemed {
        /// Who.
        participant: ParticipantId,
        /// The item.
        item: String,
        /// The price paid.
        price: Value,
    },
    /// A purchase carried a coupon that could not sign its customer up; the
    /// purchase was recorded without it.
    CouponIgnored {
        /// Who paid.
        customer: ParticipantId,
        /// Why the coupon did not apply.
        reason: String,
    },
    /// A balance was paid out.
    PaidOut {
        /// Who.
        participant: ParticipantId,
        /// The batch.
        payout: PayoutId,
        /// How much.
        value: Value,
    },
    /// A payout paid one page of participants (see
    /// [`PAYOUT_PAGE`](crate::engine::PAYOUT_PAGE)) and has more to pay: send
    /// the same `Payout` again, under a new event key, to go on.
    PayoutContinues {
        /// The batch.
        payout: PayoutId,
    },
    /// A tick handled [`TICK_BATCH`](crate::engine::TICK_BATCH) due items
    /// and more are due: send another `Tick` (under a new event key) to go on.
    TickContinues,
    /// A participant was suspended.
    Suspended {
        /// Who.
        participant: ParticipantId,
    },
    /// A participant was reinstated.
    Reinstated {
        /// Who.
        participant: ParticipantId,
    },
}
