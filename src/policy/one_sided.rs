//! One-sided: only the referrer earns (Yesware: points per invited friend).

use serde::{Deserialize, Serialize};

use super::InvalidSpec;
use super::{Amount, Grant, On, PolicyContext, PolicyError, RewardPolicy, Trigger, check_name};
use crate::domain::ledger::Role;

/// Only the referrer earns: per invite sent, per sign-up, per qualified
/// referral, per purchase, or per named action the referrer completes
/// themselves (then the actor earns, as [`Role::Actor`]).
///
/// A fixed reward on a purchase is a bounty: it is reversed when that order
/// is refunded in full. A percentage is reversed in proportion to refunds.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OneSided {
    /// The rule's name.
    pub name: String,
    /// When it fires.
    pub on: On,
    /// What the referrer earns.
    pub reward: Amount,
}

impl OneSided {
    /// A one-sided rule.
    pub fn new(name: impl Into<String>, on: On, reward: Amount) -> Self {
        Self { name: name.into(), on, reward }
    }

    pub(super) fn validate(&self, field: &str) -> Result<(), InvalidSpec> {
        check_name(field, &self.name)?;
        self.reward.validate(&format!("{field}.reward"), &self.on)
    }
}

impl RewardPolicy for OneSided {
    fn name(&self) -> &str {
        &self.name
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        if !self.on.matches(ctx.trigger) {
            return Ok(vec![]);
        }
        let (beneficiary, role) = match ctx.trigger {
            Trigger::InviteSent { .. } => (ctx.actor, Role::Referrer),
            Trigger::Action { .. } => (ctx.actor, Role::Actor),
            _ => match ctx.referrer() {
                Some(r) => (r, Role::Referrer),
                None => return Ok(vec![]),
            },
        };
        let Some((value, arithmetic, reversal)) = self.reward.resolve(ctx)? else {
            return Ok(vec![]);
        };
        let why = format!("one-sided `{}`: {arithmetic} to the referrer {}", self.name, self.on.describe());
        Ok(vec![Grant::new(beneficiary.clone(), role, value, why).with_reversal(reversal)])
    }
}
