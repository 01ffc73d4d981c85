//! Two-sided: both referrer and referee earn (Dropbox, Evernote, a shop's credit and voucher).

use serde::{Deserialize, Serialize};

use super::InvalidSpec;
use super::{Amount, Grant, On, PolicyContext, PolicyError, RewardPolicy, check_name};
use crate::domain::ledger::Role;

/// One side of a two-sided rule: when it fires and what it grants.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Side {
    /// When this side earns.
    pub on: On,
    /// What it earns.
    pub reward: Amount,
}

impl Side {
    /// A side earning `reward` at `on`.
    pub fn new(on: On, reward: Amount) -> Self {
        Self { on, reward }
    }
}

/// Referrer and referee each get their own value on their own trigger.
///
/// Either side may be left out. Both sides are about one referral, so they
/// fire only for triggers that belong to one (not for invites).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TwoSided {
    /// The rule's name.
    pub name: String,
    /// The referrer's side.
    pub referrer: Option<Side>,
    /// The referee's side.
    pub referee: Option<Side>,
}

impl TwoSided {
    /// A two-sided rule.
    pub fn new(name: impl Into<String>, referrer: Side, referee: Side) -> Self {
        Self { name: name.into(), referrer: Some(referrer), referee: Some(referee) }
    }

    pub(super) fn validate(&self, field: &str) -> Result<(), InvalidSpec> {
        check_name(field, &self.name)?;
        if self.referrer.is_none() && self.referee.is_none() {
            return Err(InvalidSpec::new(field, "a two-sided rule needs at least one side"));
        }
        for (side, spec) in [("referrer", &self.referrer), ("referee", &self.referee)] {
            if let Some(s) = spec {
                s.reward.validate(&format!("{field}.{side}.reward"), &s.on)?;
            }
        }
        Ok(())
    }
}

impl RewardPolicy for TwoSided {
    fn name(&self) -> &str {
        &self.name
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        let Some(referral) = ctx.referral else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        let sides = [
            (&self.referrer, ctx.referrer(), Role::Referrer, "referrer"),
            (&self.referee, Some(&referral.referee), Role::Referee, "referee"),
        ];
        for (side, who, role, label) in sides {
            let (Some(side), Some(who)) = (side, who) else {
                continue;
            };
            if !side.on.matches(ctx.trigger) {
                continue;
            }
            if let Some((value, arithmetic, reversal)) = side.reward.resolve(ctx)? {
                let why = format!("two-sided `{}`: {arithmetic} to the {label} {}", self.name, side.on.describe());
                out.push(Grant::new(who.clone(), role, value, why).with_reversal(reversal));
            }
        }
        Ok(out)
    }
}
