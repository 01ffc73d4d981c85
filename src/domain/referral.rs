//! Referrals: who referred whom, and the lifecycle each referral goes through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::code::{Channel, ReferralCode};
use super::id::{EventKey, ParticipantId, ProgramId, ReferralId};
use super::ledger::Role;
use super::value::Value;

/// Where a referral stands.
///
/// ```text
/// Attributed -> Qualified -> Rewarded
///      |            |            |
///      +-> Rejected +-> Reversed <+
///      +-> Expired
/// ```
///
/// In serde formats: `"attributed"`, `"qualified"`, `"rewarded"`,
/// `"expired"`, `"reversed"`, or `{"rejected": <reason>}`
/// (`{"rejected": "velocity"}`, `{"rejected": {"review": "<words>"}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReferralStatus {
    /// The referee signed up with the referrer's code; not yet qualified.
    Attributed,
    /// The referee met the program's qualification trigger.
    Qualified,
    /// The referrer was granted a reward for this referral.
    Rewarded,
    /// Refused, with the reason.
    Rejected(RejectReason),
    /// The qualification window passed before the referee qualified.
    Expired,
    /// The qualifying purchase was refunded in full.
    Reversed,
}

impl ReferralStatus {
    /// Whether the referral can still earn rewards.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Attributed | Self::Qualified | Self::Rewarded)
    }

    /// Whether the referral has qualified (and not been reversed).
    pub fn is_qualified(&self) -> bool {
        matches!(self, Self::Qualified | Self::Rewarded)
    }
}

/// Why a referral was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// The referrer made too many referrals within the program's velocity window.
    Velocity,
    /// A later touch replaced this attribution (last-touch programs).
    Superseded,
    /// A reviewer rejected it, with their words.
    Review(String),
    /// The referee's identity signals match the referrer's.
    SelfReferral,
    /// The referee's identity signals match another participant's.
    DuplicateAccount,
    /// Too many sign-ups shared one signal within the window.
    SignalVelocity,
}

impl RejectReason {
    /// A short name, as counters and reports use it.
    pub fn name(&self) -> &'static str {
        match self {
            RejectReason::Velocity => "velocity",
            RejectReason::Superseded => "superseded",
            RejectReason::Review(_) => "review",
            RejectReason::SelfReferral => "self_referral",
            RejectReason::DuplicateAccount => "duplicate_account",
            RejectReason::SignalVelocity => "signal_velocity",
        }
    }
}

/// One step in a referral's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Transition {
    /// The state entered.
    pub to: ReferralStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// The event that caused it.
    pub event: EventKey,
}

/// Who referred whom, with which code, through which channel, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Referral {
    /// The referral's id.
    pub id: ReferralId,
    /// The program.
    pub program: ProgramId,
    /// Who shared the code.
    pub referrer: ParticipantId,
    /// Who signed up with it.
    pub referee: ParticipantId,
    /// The code used.
    pub code: ReferralCode,
    /// The channel it came through.
    pub channel: Channel,
    /// Where it stands now.
    pub status: ReferralStatus,
    /// When the attribution was made (and locked).
    pub attributed_at: DateTime<Utc>,
    /// When it qualified, if it has.
    pub qualified_at: Option<DateTime<Utc>>,
    /// Every transition, oldest first, starting with `Attributed`.
    pub history: Vec<Transition>,
    /// How many purchases or payments the referee has made.
    pub purchases: u64,
    /// What each rule has paid out on this referral so far, net of reversals
    /// (for lifetime caps).
    pub earned: Vec<RuleEarnings>,
    /// While flagged and awaiting review: the rule that flagged it. Its
    /// rewards stay unavailable until a reviewer approves it.
    #[serde(default)]
    pub in_review: Option<String>,
    /// The rules that pay once per referee (on sign-up or on qualification)
    /// and have paid for this referee, with the role they paid: carried over
    /// when a later attribution supersedes this one, so that no such rule
    /// pays twice for one referee, whoever holds the attribution.
    #[serde(default)]
    pub paid_once: Vec<PaidOnce>,
    /// Whether this referral has earned its referrer a reward, and so counts
    /// towards the referrer's `max_rewarded_referrals`, whatever the trigger.
    #[serde(default)]
    pub counts_for_referrer: bool,
    /// Purchases made since the referral qualified: the first of them is the
    /// one `first_purchase` rules pay on.
    #[serde(default)]
    pub qualified_purchases: u64,
    /// How many rewards it earned its referrer that are not wholly reversed.
    /// While one stands, a referral that left the live states still counts
    /// towards `max_rewarded_referrals` (what was paid stays paid); when the
    /// last is reversed, it gives its place back. Data format 3 (a store of
    /// format 2 gets it computed from its rewards by `migrate()`).
    #[serde(default)]
    pub standing_referrer_rewards: u32,
}

/// A rule that pays once per referee, and the role it paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PaidOnce {
    /// The rule's name.
    pub rule: String,
    /// Whom it paid.
    pub role: Role,
}

/// What one rule has earned on one referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RuleEarnings {
    /// The rule's name.
    pub rule: String,
    /// The net amount.
    pub value: Value,
}

impl Referral {
    pub(crate) fn transition(&mut self, to: ReferralStatus, at: DateTime<Utc>, event: &EventKey) {
        self.status = to.clone();
        self.history.push(Transition { to, at, event: event.clone() });
    }

    /// What `rule` has earned on this referral, if anything. A rule routed
    /// through another (`segmented/share`) is found by its own name too.
    pub fn earned_by(&self, rule: &str) -> Option<&Value> {
        self.earned
            .iter()
            .find(|e| e.rule == rule || e.rule.strip_suffix(rule).is_some_and(|head| head.ends_with('/')))
            .map(|e| &e.value)
    }
}
