//! Events in, outcomes out.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::code::{Channel, ReferralCode};
use crate::domain::id::{EventKey, OrderId, ParticipantId, PayoutId, ProgramId, ReferralId, RewardId};
use crate::domain::ledger::{LedgerEntry, Reward};
use crate::domain::participant::Attributes;
use crate::domain::referral::{Referral, RejectReason};
use crate::domain::value::{Asset, Value};
use crate::fraud::Signal;

/// One thing that happened in the host, for one program, under the host's
/// idempotency key.
///
/// ```
/// use referral_engine::{Event, EventKind};
/// let e = Event::new("signup-42", "dropbox", EventKind::SignUp {
///     referee: "bob".parse().unwrap(),
///     code: "ABCDE-FGHJK".into(),
///     channel: Default::default(),
///     clicked_at: None, signals: vec![],
/// }).unwrap();
/// assert_eq!(e.key.as_str(), "signup-42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Event {
    /// The idempotency key: the same key again returns the first outcome.
    pub key: EventKey,
    /// The program it belongs to.
    pub program: ProgramId,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// An event, validating the key and program id.
    pub fn new(key: &str, program: &str, kind: EventKind) -> Result<Self, crate::domain::id::IdError> {
        Ok(Self { key: EventKey::new(key)?, program: ProgramId::new(program)?, kind })
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum EventKind {
    /// A participant joins as a referrer and gets a code.
    Enroll {
        /// Who.
        participant: ParticipantId,
        /// The segment the host assigns (routes policies), if any.
        #[serde(default)]
        segment: Option<String>,
        /// Attributes the enrollment rule looks at.
        #[serde(default)]
        attributes: Attributes,
        /// A vanity code instead of a generated one.
        #[serde(default)]
        vanity_code: Option<String>,
        /// Identity signals, for fraud checks on the people they refer.
        #[serde(default)]
        signals: Vec<Signal>,
    },
    /// An enrolled referrer gets another code.
    IssueCode {
        /// Who.
        participant: ParticipantId,
        /// A vanity code instead of a generated one.
        #[serde(default)]
        vanity_code: Option<String>,
    },
    /// A partner gets a batch of single-use codes, each redeemable once.
    IssuePartnerCodes {
        /// The partner (an enrolled participant).
        partner: ParticipantId,
        /// How many (1 to 10000).
        count: u32,
    },
    /// A referrer sent an invite.
    InviteSent {
        /// Who sent it.
        referrer: ParticipantId,
        /// Through which channel.
        #[serde(default)]
        channel: Channel,
    },
    /// Someone signed up with a code (from a link or typed in).
    SignUp {
        /// The new participant.
        referee: ParticipantId,
        /// The code as typed or taken from the link.
        code: String,
        /// The channel.
        #[serde(default)]
        channel: Channel,
        /// When the referee clicked the link, for the attribution window.
        #[serde(default)]
        clicked_at: Option<DateTime<Utc>>,
        /// The referee's identity signals, for fraud checks.
        #[serde(default)]
        signals: Vec<Signal>,
    },
    /// A purchase or recurring payment.
    Purchase {
        /// Who paid.
        customer: ParticipantId,
        /// The host's order id (unique per program).
        order: OrderId,
        /// How much, in the program's currency.
        amount: Value,
        /// A code typed in as a coupon at checkout, if any.
        #[serde(default)]
        coupon: Option<String>,
    },
    /// A refund of (part of) an order.
    Refund {
        /// The order.
        order: OrderId,
        /// How much.
        amount: Value,
    },
    /// A chargeback of (part of) an order: reversed like a refund.
    Chargeback {
        /// The order.
        order: OrderId,
        /// How much.
        amount: Value,
    },
    /// A participant completed a named action.
    Action {
        /// Who.
        participant: ParticipantId,
        /// The action's name.
        name: String,
    },
    /// Time passed: matured holds are released and stale referrals expire.
    Tick,
    /// A participant is suspended: they earn nothing new.
    Suspend {
        /// Who.
        participant: ParticipantId,
    },
    /// A suspension ends.
    Reinstate {
        /// Who.
        participant: ParticipantId,
    },
    /// A participant redeems points for a catalog item.
    Redeem {
        /// Who.
        participant: ParticipantId,
        /// The item's id.
        item: String,
    },
    /// A reviewer approves a flagged referral: its rewards are released.
    Approve {
        /// The referee of the referral.
        referee: ParticipantId,
    },
    /// A reviewer rejects a flagged referral: its rewards are reversed.
    Reject {
        /// The referee of the referral.
        referee: ParticipantId,
        /// Why, in the reviewer's words.
        reason: String,
    },
    /// The host sent these outbox notifications: they leave the outbox.
    Acknowledge {
        /// The notifications sent.
        notifications: Vec<crate::store::NotificationId>,
    },
    /// Available balances of one asset at or above a minimum are marked paid.
    Payout {
        /// The batch id.
        payout: PayoutId,
        /// The asset paid out.
        asset: Asset,
        /// The least a participant must have available to be paid.
        #[serde(default)]
        minimum: Option<Decimal>,
    },
}

impl EventKind {
    /// A participant enrolls as a referrer, with no segment, attributes or vanity code.
    pub fn enroll(participant: ParticipantId) -> Self {
        Self::Enroll { participant, segment: None, attributes: Attributes::new(), vanity_code: None, signals: vec![] }
    }

    /// A sign-up with a code, through a plain link, with no click time.
    pub fn sign_up(referee: ParticipantId, code: impl Into<String>) -> Self {
        Self::SignUp { referee, code: code.into(), channel: Channel::Link, clicked_at: None, signals: vec![] }
    }

    /// A purchase or payment without a coupon.
    pub fn purchase(customer: ParticipantId, order: OrderId, amount: Value) -> Self {
        Self::Purchase { customer, order, amount, coupon: None }
    }

    /// A refund of (part of) an order.
    pub fn refund(order: OrderId, amount: Value) -> Self {
        Self::Refund { order, amount }
    }

    /// A named action of a participant.
    pub fn action(participant: ParticipantId, name: impl Into<String>) -> Self {
        Self::Action { participant, name: name.into() }
    }

    /// A redemption of a catalog item.
    pub fn redeem(participant: ParticipantId, item: impl Into<String>) -> Self {
        Self::Redeem { participant, item: item.into() }
    }
}

/// What an event changed: the host's receipt and its source of notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Outcome {
    /// The event's key.
    pub event: EventKey,
    /// When it was handled.
    pub at: DateTime<Utc>,
    /// Referrals created or changed, as they now stand.
    pub referrals: Vec<Referral>,
    /// Rewards granted or changed, as they now stand.
    pub rewards: Vec<Reward>,
    /// Ledger entries written.
    pub entries: Vec<LedgerEntry>,
    /// Codes issued.
    pub codes: Vec<ReferralCode>,
    /// Domain events, for thank-you messages and the like.
    pub notices: Vec<Notice>,
}

impl Outcome {
    pub(crate) fn new(event: EventKey, at: DateTime<Utc>) -> Self {
        Self { event, at, referrals: vec![], rewards: vec![], entries: vec![], codes: vec![], notices: vec![] }
    }

    /// Whether the event changed nothing.
    pub fn is_empty(&self) -> bool {
        self.referrals.is_empty()
            && self.rewards.is_empty()
            && self.entries.is_empty()
            && self.codes.is_empty()
            && self.notices.is_empty()
    }
}

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
