//! Routing: different kinds of referrers get different policies.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::InvalidSpec;
use super::{Grant, PolicyContext, PolicyError, PolicySpec, RewardPolicy};

/// The policies for one segment.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Route {
    /// The segment, as the host assigns it when enrolling a referrer.
    pub segment: String,
    /// The policies its referrers run under.
    pub policies: Vec<PolicySpec>,
}

/// Routes each trigger to the policies of the direct referrer's segment, or
/// to `default` when the referrer has no segment or one without a route.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Segmented {
    /// The routes.
    pub routes: Vec<Route>,
    /// The policies for everyone else.
    #[serde(default)]
    pub default: Vec<PolicySpec>,
}

/// A [`Segmented`] spec with its policies built.
#[derive(Debug)]
pub(super) struct Built {
    routes: Vec<(String, Vec<Arc<dyn RewardPolicy>>)>,
    default: Vec<Arc<dyn RewardPolicy>>,
}

impl Segmented {
    pub(super) fn build(&self, field: &str) -> Result<Built, InvalidSpec> {
        // One route runs for a referral (or the default): names are unique
        // within each.
        let build_all = |specs: &[PolicySpec], at: &str| -> Result<Vec<Arc<dyn RewardPolicy>>, InvalidSpec> {
            let built: Vec<Arc<dyn RewardPolicy>> =
                specs.iter().enumerate().map(|(i, s)| s.build(&format!("{at}[{i}]"))).collect::<Result<_, _>>()?;
            let names: Vec<&str> = built.iter().map(|p| p.name()).collect();
            super::unique_names(&names, |i| format!("{at}[{i}].name"))?;
            Ok(built)
        };
        for (i, r) in self.routes.iter().enumerate() {
            if !crate::domain::id::is_name(&r.segment) {
                return Err(InvalidSpec::new(
                    &format!("{field}.routes[{i}].segment"),
                    format!("{:?} is not 1 to 64 printable characters: no referrer could enroll in it", r.segment),
                ));
            }
        }
        let routes = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| Ok((r.segment.clone(), build_all(&r.policies, &format!("{field}.routes[{i}].policies"))?)))
            .collect::<Result<_, InvalidSpec>>()?;
        Ok(Built { routes, default: build_all(&self.default, &format!("{field}.default"))? })
    }
}

impl RewardPolicy for Built {
    fn name(&self) -> &str {
        "segmented"
    }

    fn chain_depth(&self) -> usize {
        self.routes.iter().flat_map(|(_, p)| p).chain(&self.default).map(|p| p.chain_depth()).max().unwrap_or(1)
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        let policies =
            ctx.segment.and_then(|s| self.routes.iter().find(|(seg, _)| seg == s)).map_or(&self.default, |(_, p)| p);
        let mut out = Vec::new();
        for p in policies {
            for g in p.grants(ctx)? {
                let suffix = match &g.rule_suffix {
                    Some(s) => format!("{}/{s}", p.name()),
                    None => p.name().to_owned(),
                };
                out.push(g.with_rule_suffix(suffix));
            }
        }
        Ok(out)
    }
}
