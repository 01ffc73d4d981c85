//! Multi-level: referrers up the chain earn too.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::InvalidSpec;
use super::{Amount, Grant, On, PolicyContext, PolicyError, RewardPolicy, check_name};
use crate::domain::ledger::Role;
use crate::domain::value::Value;

/// The deepest chain a program may pay.
pub const MAX_DEPTH: u8 = 10;

/// What one level of the chain earns.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LevelReward {
    /// The level: 1 is the direct referrer, 2 their referrer, and so on.
    pub level: u8,
    /// What that level earns.
    pub reward: Amount,
}

impl LevelReward {
    /// A level's reward.
    pub fn new(level: u8, reward: Amount) -> Self {
        Self { level, reward }
    }
}

/// A chain of configurable depth, each level earning a fixed amount or a
/// percentage of the purchase.
///
/// The engine hands over a chain with no repeats and without the referee, so
/// a cycle (A referred B, B "referred" A) never loops and never pays anyone
/// twice. With `per_event_cap`, the total of one event's grants under this rule
/// is cut to the cap, taking from the deepest level first.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MultiLevel {
    /// The rule's name.
    pub name: String,
    /// When it fires.
    pub on: On,
    /// What each level earns.
    pub levels: Vec<LevelReward>,
    /// The most one event pays under this rule, all levels together.
    #[serde(default)]
    pub per_event_cap: Option<Value>,
}

impl MultiLevel {
    /// A multi-level rule without a per-event cap.
    pub fn new(name: impl Into<String>, on: On, levels: Vec<LevelReward>) -> Self {
        Self { name: name.into(), on, levels, per_event_cap: None }
    }

    /// Caps what one event pays.
    pub fn with_per_event_cap(mut self, cap: Value) -> Self {
        self.per_event_cap = Some(cap);
        self
    }

    pub(super) fn validate(&self, field: &str) -> Result<(), InvalidSpec> {
        check_name(field, &self.name)?;
        if self.levels.is_empty() {
            return Err(InvalidSpec::new(&format!("{field}.levels"), "at least one level is needed"));
        }
        for (i, l) in self.levels.iter().enumerate() {
            if l.level == 0 || l.level > MAX_DEPTH {
                return Err(InvalidSpec::new(
                    &format!("{field}.levels[{i}].level"),
                    format!("{} is not in 1..={MAX_DEPTH}", l.level),
                ));
            }
            if self.levels.iter().filter(|o| o.level == l.level).count() > 1 {
                return Err(InvalidSpec::new(
                    &format!("{field}.levels[{i}].level"),
                    format!("level {} appears twice", l.level),
                ));
            }
            l.reward.validate(&format!("{field}.levels[{i}].reward"), &self.on)?;
        }
        if let Some(cap) = &self.per_event_cap {
            super::check_value(&format!("{field}.per_event_cap"), cap)?;
            let caps = |a: &super::Amount| match a {
                super::Amount::Fixed(v) => v.asset() == cap.asset(),
                super::Amount::Percent(_) => matches!(cap.asset(), crate::domain::value::Asset::Money(_)),
            };
            if !self.levels.iter().any(|l| caps(&l.reward)) {
                return Err(InvalidSpec::new(
                    &format!("{field}.per_event_cap"),
                    format!("{cap} is in an asset no level pays: it would never apply"),
                ));
            }
        }
        Ok(())
    }
}

impl RewardPolicy for MultiLevel {
    fn name(&self) -> &str {
        &self.name
    }

    fn chain_depth(&self) -> usize {
        self.levels.iter().map(|l| usize::from(l.level)).max().unwrap_or(1)
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        if !self.on.matches(ctx.trigger) || ctx.referral.is_none() {
            return Ok(vec![]);
        }
        let mut levels: Vec<&LevelReward> = self.levels.iter().collect();
        levels.sort_by_key(|l| l.level);
        let mut out = Vec::new();
        let mut left = self.per_event_cap.as_ref().map(Value::amount);
        for l in levels {
            let Some(who) = usize::from(l.level).checked_sub(1).and_then(|i| ctx.chain.get(i)) else {
                break;
            };
            if ctx.referee() == Some(who) || out.iter().any(|g: &Grant| &g.beneficiary == who) {
                continue;
            }
            let Some((mut value, mut arithmetic, reversal)) = l.reward.resolve(ctx)? else {
                continue;
            };
            if let (Some(cap), Some(left)) = (&self.per_event_cap, left.as_mut())
                && cap.asset() == value.asset()
            {
                if value.amount() > *left {
                    arithmetic =
                        format!("{arithmetic}, cut to {} by the per-event cap of {cap}", value.with_amount(*left));
                    value = value.with_amount(*left);
                }
                *left = left.checked_sub(value.amount()).ok_or(crate::domain::value::ValueError::Overflow)?;
            }
            if value.amount() <= Decimal::ZERO {
                continue;
            }
            let role = if l.level == 1 { Role::Referrer } else { Role::Ancestor(l.level) };
            let why = format!("multi-level `{}`: {arithmetic} to level {} {}", self.name, l.level, self.on.describe());
            out.push(
                Grant::new(who.clone(), role, value, why)
                    .with_reversal(reversal)
                    .with_rule_suffix(format!("level-{}", l.level)),
            );
        }
        Ok(out)
    }
}
