//! Reward policies: pure rules that turn one trigger into grants.
//!
//! A policy sees a [`PolicyContext`] (the program's terms, the trigger, the
//! referral, the chain of referrers above the referee, the referrer's
//! statistics and the time) and returns [`Grant`]s. It does no I/O and reads no
//! clock. The engine then applies the program's limits (caps, budgets,
//! maximum rewarded referrals), rounds, and writes the ledger.
//!
//! The built-in models are configured from serde data through [`PolicySpec`];
//! a host's own model implements [`RewardPolicy`] and is added with
//! [`crate::Program::with_policy`].

mod multi_level;
mod one_sided;
mod revenue_share;
mod segmented;
mod tiered;
mod two_sided;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use multi_level::{LevelReward, MultiLevel};
pub use one_sided::OneSided;
pub use revenue_share::RevenueShare;
pub use segmented::{Route, Segmented};
pub use tiered::{Milestone, Tier, TierBasis, Tiered};
pub use two_sided::{Side, TwoSided};

use crate::domain::code::Channel;
use crate::domain::id::{OrderId, ParticipantId};
use crate::domain::ledger::{Reversal, Role};
use crate::domain::participant::ReferrerStats;
use crate::domain::referral::Referral;
use crate::domain::value::{Currency, Rounding, Value};

/// A policy's configuration is invalid: which field (its path in the
/// program, `policies[1].levels[0].reward`) and why. A program wraps it in
/// its own error ([`ProgramError`](crate::program::ProgramError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program field `{field}`: {reason}")]
#[non_exhaustive]
pub struct InvalidSpec {
    /// The field's path.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl InvalidSpec {
    pub(crate) fn new(field: &str, reason: impl std::fmt::Display) -> Self {
        Self { field: field.to_owned(), reason: reason.to_string() }
    }
}

/// A reward model. Pure: no I/O, no clock reads; the same context gives the same grants.
///
/// ```
/// use referral_engine::policy::{Grant, PolicyContext, PolicyError, RewardPolicy, Trigger};
/// use referral_engine::Value;
/// use referral_engine::domain::ledger::Role;
///
/// /// One point to the referrer on every sign-up.
/// #[derive(Debug)]
/// struct OnePoint;
///
/// impl RewardPolicy for OnePoint {
///     fn name(&self) -> &str { "one-point" }
///     fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
///         let (Trigger::SignedUp, Some(referrer)) = (ctx.trigger, ctx.referrer()) else {
///             return Ok(vec![]);
///         };
///         let value: Value = "1 points".parse().map_err(PolicyError::from)?;
///         Ok(vec![Grant::new(referrer.clone(), Role::Referrer, value, "1 point per sign-up")])
///     }
/// }
/// ```
pub trait RewardPolicy: Send + Sync + fmt::Debug {
    /// The rule's name, stored with every reward it grants.
    fn name(&self) -> &str;

    /// How many levels of referrers above the referee this policy looks at
    /// (1: the direct referrer only).
    fn chain_depth(&self) -> usize {
        1
    }

    /// The grants this trigger earns under this rule.
    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError>;
}

/// What happened, as a policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// A referrer sent an invite.
    InviteSent {
        /// The channel.
        channel: Channel,
    },
    /// The referee signed up (the referral was attributed).
    SignedUp,
    /// The referral qualified.
    Qualified,
    /// The referee paid.
    Purchase {
        /// The order.
        order: OrderId,
        /// What was paid.
        amount: Value,
        /// Whether this is the referee's first purchase.
        first: bool,
    },
    /// A participant completed a named action.
    Action {
        /// The action's name.
        name: String,
    },
}

impl Trigger {
    /// Whether a rule on this trigger pays each referee at most once: a
    /// referral is attributed and qualifies once, and a later attribution of
    /// the same referee (last touch) must not pay the same rule again.
    pub fn pays_once(&self) -> bool {
        matches!(self, Self::SignedUp | Self::Qualified)
    }
}

/// Everything a policy may look at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PolicyContext<'a> {
    /// The program's terms.
    pub terms: &'a Terms,
    /// What happened.
    pub trigger: &'a Trigger,
    /// Who acted: the referee for referral triggers, the inviter for invites,
    /// the actor for actions.
    pub actor: &'a ParticipantId,
    /// The referral the trigger belongs to, if any.
    pub referral: Option<&'a Referral>,
    /// The referrers above the referee, nearest first: `chain[0]` is the
    /// direct referrer (level 1). Distinct, without the referee, cut at the
    /// deepest level any policy of the program asks for.
    pub chain: &'a [ParticipantId],
    /// The direct referrer's statistics, including this trigger's effect.
    pub stats: Option<&'a ReferrerStats>,
    /// The direct referrer's segment, as the host assigned it.
    pub segment: Option<&'a str>,
    /// The time of the event.
    pub now: DateTime<Utc>,
}

impl<'a> PolicyContext<'a> {
    /// The direct referrer, if there is one.
    pub fn referrer(&self) -> Option<&'a ParticipantId> {
        self.chain.first()
    }

    /// The referee, if the trigger belongs to a referral.
    pub fn referee(&self) -> Option<&'a ParticipantId> {
        self.referral.map(|r| &r.referee)
    }
}

/// The program terms a policy needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Terms {
    /// The currency purchases are made in.
    pub currency: Currency,
    /// How computed money is rounded.
    pub rounding: Rounding,
}

/// One reward a policy asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Grant {
    /// Who earns it.
    pub beneficiary: ParticipantId,
    /// Their role.
    pub role: Role,
    /// How much.
    pub value: Value,
    /// The rule and the arithmetic in words, for "why did I get this?".
    pub explanation: String,
    /// How refunds reverse it (only for grants on a purchase).
    pub reversal: Reversal,
    /// A sub-rule name appended to the policy's name (a milestone, a level).
    pub rule_suffix: Option<String>,
}

impl Grant {
    /// A grant reversed only on a full refund.
    pub fn new(beneficiary: ParticipantId, role: Role, value: Value, explanation: impl Into<String>) -> Self {
        Self {
            beneficiary,
            role,
            value,
            explanation: explanation.into(),
            reversal: Reversal::OnFullRefund,
            rule_suffix: None,
        }
    }

    /// The same grant with another reversal rule.
    pub fn with_reversal(mut self, reversal: Reversal) -> Self {
        self.reversal = reversal;
        self
    }

    /// The same grant under a sub-rule name.
    pub fn with_rule_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.rule_suffix = Some(suffix.into());
        self
    }
}

/// What went wrong inside a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Arithmetic on values failed.
    #[error(transparent)]
    Value(#[from] crate::domain::value::ValueError),
    /// Any other failure, in words.
    #[error("{0}")]
    Other(String),
}

/// When a built-in rule fires.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum On {
    /// Each invite the referrer sends.
    InviteSent,
    /// Each sign-up with the referrer's code.
    SignUp,
    /// Each referral that qualifies.
    Qualified,
    /// The referee's first purchase.
    FirstPurchase,
    /// Every purchase or payment of the referee.
    EveryPurchase,
    /// A named action.
    Action(String),
}

impl On {
    /// Whether `trigger` is this moment.
    pub fn matches(&self, trigger: &Trigger) -> bool {
        match (self, trigger) {
            (On::InviteSent, Trigger::InviteSent { .. })
            | (On::SignUp, Trigger::SignedUp)
            | (On::Qualified, Trigger::Qualified)
            | (On::EveryPurchase, Trigger::Purchase { .. }) => true,
            (On::FirstPurchase, Trigger::Purchase { first, .. }) => *first,
            (On::Action(want), Trigger::Action { name }) => want == name,
            _ => false,
        }
    }

    fn is_purchase(&self) -> bool {
        matches!(self, On::FirstPurchase | On::EveryPurchase)
    }

    fn describe(&self) -> String {
        match self {
            On::InviteSent => "per invite sent".into(),
            On::SignUp => "per sign-up".into(),
            On::Qualified => "per qualified referral".into(),
            On::FirstPurchase => "on the first purchase".into(),
            On::EveryPurchase => "on every purchase".into(),
            On::Action(name) => format!("per `{name}` action"),
        }
    }
}

/// How much a built-in rule grants.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Amount {
    /// A fixed value.
    Fixed(Value),
    /// A percentage of the purchase that triggered it (purchase triggers only).
    Percent(Decimal),
}

/// A value a policy pays or caps with: above zero, within
/// [`MAX_AMOUNT`](crate::domain::value::MAX_AMOUNT), and no finer than its
/// currency allows (`0.001 USD` would build and pay nothing). The one check
/// every value of a built-in policy goes through.
pub(crate) fn check_value(field: &str, v: &Value) -> Result<(), InvalidSpec> {
    if !v.is_positive() {
        return Err(InvalidSpec::new(field, format!("{v} is not above zero")));
    }
    v.check_bounds().map_err(|e| InvalidSpec::new(field, e))
}

impl Amount {
    /// The value for this trigger with its explanation, or `None` when a
    /// percentage meets a trigger with no purchase amount.
    pub fn resolve(&self, ctx: &PolicyContext<'_>) -> Result<Option<(Value, String, Reversal)>, PolicyError> {
        match self {
            Amount::Fixed(v) => Ok(Some((v.clone(), format!("{v}"), Reversal::OnFullRefund))),
            Amount::Percent(p) => match ctx.trigger {
                Trigger::Purchase { amount, .. } => {
                    let v = amount.percent(*p, ctx.terms.rounding)?;
                    Ok(Some((v.clone(), format!("{}% of {amount} = {v}", p.normalize()), Reversal::Proportional)))
                }
                _ => Ok(None),
            },
        }
    }

    fn validate(&self, field: &str, on: &On) -> Result<(), InvalidSpec> {
        if let On::Action(name) = on
            && !crate::domain::id::is_name(name)
        {
            let reason =
                format!("its trigger's action {name:?} is not 1 to 64 printable characters: no event could send it");
            return Err(InvalidSpec::new(field, reason));
        }
        match self {
            Amount::Fixed(v) => check_value(field, v),
            Amount::Percent(p) if *p <= Decimal::ZERO || *p > Decimal::ONE_HUNDRED => {
                Err(InvalidSpec::new(field, format!("{p}% is not in (0, 100]")))
            }
            Amount::Percent(_) if !on.is_purchase() => {
                Err(InvalidSpec::new(field, "a percentage needs a purchase trigger (first_purchase or every_purchase)"))
            }
            _ => Ok(()),
        }
    }
}

/// A built-in policy as data (JSON, TOML, ...), built into a [`RewardPolicy`] on load.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum PolicySpec {
    /// Only the referrer earns.
    OneSided(OneSided),
    /// Referrer and referee each earn their own value.
    TwoSided(TwoSided),
    /// The referrer's reward depends on their performance.
    Tiered(Tiered),
    /// Referrers up the chain earn too.
    MultiLevel(MultiLevel),
    /// A percentage of every payment the referee makes.
    RevenueShare(RevenueShare),
    /// Different policies for different segments of referrers.
    Segmented(Segmented),
}

impl PolicySpec {
    /// Whether this policy can grant `asset`: a fixed reward of it, or (for a
    /// percentage or a revenue share) money, which is the purchase's
    /// currency. A cap or budget in an asset no policy grants would never
    /// apply.
    pub fn can_grant(&self, asset: &crate::domain::value::Asset) -> bool {
        use crate::domain::value::Asset;
        let amount = |a: &Amount| match a {
            Amount::Fixed(v) => v.asset() == asset,
            Amount::Percent(_) => matches!(asset, Asset::Money(_)),
        };
        match self {
            PolicySpec::OneSided(p) => amount(&p.reward),
            PolicySpec::TwoSided(p) => [&p.referrer, &p.referee].into_iter().flatten().any(|side| amount(&side.reward)),
            PolicySpec::Tiered(p) => {
                p.tiers.iter().any(|t| amount(&t.reward)) || p.milestones.iter().any(|m| m.bonus.asset() == asset)
            }
            PolicySpec::MultiLevel(p) => p.levels.iter().any(|l| amount(&l.reward)),
            PolicySpec::RevenueShare(_) => matches!(asset, Asset::Money(_)),
            PolicySpec::Segmented(p) => {
                p.routes.iter().flat_map(|r| &r.policies).chain(&p.default).any(|s| s.can_grant(asset))
            }
        }
    }

    /// Validates the spec and builds the policy; `field` names it in errors.
    pub fn build(&self, field: &str) -> Result<Arc<dyn RewardPolicy>, InvalidSpec> {
        Ok(match self {
            PolicySpec::OneSided(p) => {
                p.validate(field)?;
                Arc::new(p.clone())
            }
            PolicySpec::TwoSided(p) => {
                p.validate(field)?;
                Arc::new(p.clone())
            }
            PolicySpec::Tiered(p) => {
                p.validate(field)?;
                Arc::new(p.clone())
            }
            PolicySpec::MultiLevel(p) => {
                p.validate(field)?;
                Arc::new(p.clone())
            }
            PolicySpec::RevenueShare(p) => {
                p.validate(field)?;
                Arc::new(p.clone())
            }
            PolicySpec::Segmented(p) => Arc::new(p.build(field)?),
        })
    }
}

/// Refuses the second of two equal names in `names` (everything that can run
/// for one referral), naming its field with `field`.
pub(crate) fn unique_names(names: &[&str], field: impl Fn(usize) -> String) -> Result<(), InvalidSpec> {
    for (i, name) in names.iter().enumerate() {
        if names.iter().take(i).any(|o| o == name) {
            return Err(InvalidSpec::new(
                &field(i),
                format!("{name:?} is the name of another rule that can run for the same referral"),
            ));
        }
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), InvalidSpec> {
    if !crate::domain::id::is_name(name) {
        return Err(InvalidSpec::new(
            &format!("{field}.name"),
            format!("{name:?} is not a rule name (1 to 64 printable characters)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
