//! Turning policy grants into rewards: limits, rounding, holds, the ledger;
//! and taking them back on refunds.

use rust_decimal::Decimal;

use super::decide::Decision;
use crate::domain::id::{ParticipantId, RewardId};
use crate::domain::ledger::{Bucket, EntryKind, Reward, RewardStatus, Role};
use crate::domain::referral::{Referral, ReferralStatus, RuleEarnings};
use crate::domain::value::Value;
use crate::error::Error;
use crate::event::{EventKind, LimitReason, Notice};
use crate::policy::{Grant, PolicyContext, Trigger};
use crate::program::BudgetMode;
use crate::store::{Due, Key};

impl Decision<'_, '_> {
    /// The referrers above `referee`, nearest first: distinct, never the
    /// referee, at most `depth` long. A cycle ends the walk.
    fn chain(
        &mut self,
        first: &ParticipantId,
        referee: &ParticipantId,
        depth: usize,
    ) -> Result<Vec<ParticipantId>, Error> {
        let mut chain: Vec<ParticipantId> = Vec::with_capacity(depth);
        let mut next = Some(first.clone());
        while let Some(id) = next.take() {
            if chain.len() >= depth || &id == referee || chain.contains(&id) {
                break;
            }
            next = self.participant(&id)?.and_then(|p| p.referred_by);
            chain.push(id);
        }
        Ok(chain)
    }

    /// Runs every policy of the program on a trigger and grants what they ask,
    /// within the program's limits.
    pub(crate) fn reward(
        &mut self,
        trigger: &Trigger,
        actor: &ParticipantId,
        referral: Option<Referral>,
    ) -> Result<(), Error> {
        let depth = self.program.chain_depth();
        let chain = match &referral {
            Some(r) => self.chain(&r.referrer, &r.referee, depth)?,
            None => vec![],
        };
        let stats_owner = chain.first().unwrap_or(actor).clone();
        let owner = self.participant(&stats_owner)?;
        let stats = owner.as_ref().map(|p| p.stats.clone());
        let segment = owner.as_ref().and_then(|p| p.segment.clone());
        let mut grants: Vec<(String, Grant)> = Vec::new();
        {
            let ctx = PolicyContext {
                terms: self.program.terms(),
                trigger,
                actor,
                referral: referral.as_ref(),
                chain: &chain,
                stats: stats.as_ref(),
                segment: segment.as_deref(),
                now: self.now,
            };
            let variant: &[std::sync::Arc<dyn crate::policy::RewardPolicy>] =
                match owner.as_ref().and_then(|p| p.variant.as_deref()) {
                    Some(v) => self.program.variant_policies(v),
                    None => &[],
                };
            for policy in self.program.policies().iter().chain(variant) {
                let asked =
                    policy.grants(&ctx).map_err(|source| Error::Policy { rule: policy.name().to_owned(), source })?;
                for g in asked {
                    let rule = match &g.rule_suffix {
                        Some(s) => format!("{}/{s}", policy.name()),
                        None => policy.name().to_owned(),
                    };
                    grants.push((rule, g));
                }
            }
        }
        for (rule, grant) in grants {
            self.grant(trigger, referral.as_ref().map(|r| &r.referee), rule, grant)?;
        }
        Ok(())
    }

    /// Applies limits to one grant and writes it.
    fn grant(
        &mut self,
        trigger: &Trigger,
        referee: Option<&ParticipantId>,
        rule: String,
        grant: Grant,
    ) -> Result<(), Error> {
        let Some(mut beneficiary) = self.participant(&grant.beneficiary)? else {
            return Ok(());
        };
        let asked =
            grant.value.with_amount(grant.value.round_amount(grant.value.amount(), self.program.terms().rounding));
        if !asked.is_positive() {
            return Ok(());
        }
        let withheld = |reason| Notice::RewardWithheld {
            beneficiary: grant.beneficiary.clone(),
            rule: rule.clone(),
            asked: asked.clone(),
            reason,
        };
        if beneficiary.suspended {
            self.out.notices.push(withheld(LimitReason::Suspended));
            return Ok(());
        }
        let limits = &self.program.spec().limits;
        // The referral this grant is for, when the referrer is paid on it.
        let mut referral = match referee {
            Some(r) => self.referral_of(r)?,
            None => None,
        };
        let pays_referrer = grant.role == Role::Referrer && referral.is_some();
        let newly_rewarded = pays_referrer && referral.as_ref().is_some_and(|r| r.status == ReferralStatus::Qualified);
        if pays_referrer && referral.as_ref().is_some_and(|r| r.status != ReferralStatus::Rewarded) {
            if let Some(max) = limits.max_rewarded_referrals {
                if beneficiary.stats.rewarded_referrals >= max {
                    self.out.notices.push(withheld(LimitReason::MaxRewardedReferrals(max)));
                    return Ok(());
                }
            }
        }
        let mut value = asked.clone();
        let mut cuts = Vec::new();
        if grant.role != Role::Referee {
            if let Some(cap) = limits.referrer_cap(value.asset()) {
                let room = (cap - beneficiary.stats.earned_in(value.asset())).max(Decimal::ZERO);
                if room < value.amount() {
                    value = value.with_amount(room);
                    cuts.push(LimitReason::ReferrerCap(value.with_amount(cap)));
                }
            }
        }
        if let Some(budget) = limits.budget(value.asset()) {
            let granted = self.granted_so_far(value.asset())?;
            let room = (budget - granted).max(Decimal::ZERO);
            if room < value.amount() {
                if limits.budget_mode == BudgetMode::Refuse {
                    self.out.notices.push(withheld(LimitReason::Budget(value.with_amount(budget))));
                    return Ok(());
                }
                value = value.with_amount(room);
                cuts.push(LimitReason::Budget(value.with_amount(budget)));
            }
        }
        if !value.is_positive() {
            let reason = cuts.pop().unwrap_or(LimitReason::Suspended);
            self.out.notices.push(withheld(reason));
            return Ok(());
        }
        for reason in cuts {
            self.out.notices.push(Notice::RewardCut {
                beneficiary: grant.beneficiary.clone(),
                rule: rule.clone(),
                asked: asked.clone(),
                granted: value.clone(),
                reason,
            });
        }

        // Counters that move with the grant (the budget among them).
        let variant = match referee {
            Some(r) => self.variant_above(r)?,
            None => None,
        };
        let granted = value.clone();
        self.count(|c| {
            *c.granted.entry(granted.asset().clone()).or_default() += granted.amount();
            if newly_rewarded {
                c.rewarded += 1;
            }
            if let Some(v) = &variant {
                let figures = c.variants.entry(v.clone()).or_default();
                *figures.granted.entry(granted.asset().clone()).or_default() += granted.amount();
            }
        })?;
        if grant.role != Role::Referee {
            *beneficiary.stats.earned.entry(value.asset().clone()).or_default() += value.amount();
        }
        if newly_rewarded {
            beneficiary.stats.rewarded_referrals += 1;
        }
        self.save_participant(beneficiary)?;
        if let Some(r) = referral.as_mut() {
            add_earned(r, &rule, &value)?;
            if newly_rewarded {
                r.transition(ReferralStatus::Rewarded, self.now, &self.event.key);
            }
            self.save_referral(r.clone())?;
        }

        let hold = self.program.hold();
        let in_review = referral.as_ref().is_some_and(|r| r.in_review.is_some());
        let (status, bucket) = if in_review {
            (RewardStatus::InReview, Bucket::Pending)
        } else if hold.is_zero() {
            (RewardStatus::Available, Bucket::Available)
        } else {
            (RewardStatus::Pending(self.now + hold), Bucket::Pending)
        };
        let mut explanation = grant.explanation.clone();
        if value != asked {
            explanation.push_str(&format!("; limited to {value}"));
        }
        let reward = Reward {
            id: RewardId::from_uuid(self.ids.next()),
            program: self.program.id().clone(),
            beneficiary: grant.beneficiary.clone(),
            role: grant.role,
            value: value.clone(),
            rule,
            explanation: explanation.clone(),
            referral: referral.as_ref().map(|r| r.id),
            referee: referee.cloned(),
            // Everything a purchase earns (its qualification's rewards too)
            // hangs on that order, so refunding it reverses them.
            order: match (&self.event.kind, trigger) {
                (_, Trigger::Purchase { order, .. }) | (EventKind::Purchase { order, .. }, _) => Some(order.clone()),
                _ => None,
            },
            reversal: grant.reversal,
            reversed: Decimal::ZERO,
            status: status.clone(),
            granted_at: self.now,
            event: self.event.key.clone(),
        };
        if let (true, Some(r)) = (in_review, referee) {
            let key = Key::review(self.program.id(), r);
            if let Some(mut item) = self.tx.get::<crate::store::ReviewItem>(&key)? {
                item.held.push(reward.id);
                self.tx.put(key, item)?;
            }
        }
        if let RewardStatus::Pending(until) = status {
            self.tx.put_new(Key::due(self.program.id(), until, &reward.id.to_string()), Due::Release(reward.id));
        }
        self.post(&grant.beneficiary, &value, bucket, EntryKind::Grant, Some(reward.id), &explanation)?;
        self.out.notices.push(Notice::RewardGranted {
            reward: reward.id,
            beneficiary: grant.beneficiary.clone(),
            value,
        });
        self.save_new_reward(reward);
        Ok(())
    }

    /// Takes `amount` of a reward back, from the bucket it sits in.
    pub(crate) fn reverse(&mut self, mut reward: Reward, amount: Decimal, why: &str) -> Result<(), Error> {
        let value = reward.value.with_amount(amount);
        let bucket = match reward.status {
            RewardStatus::Available => Bucket::Available,
            _ => Bucket::Pending,
        };
        self.post(&reward.beneficiary, &value.with_amount(-amount), bucket, EntryKind::Reversal, Some(reward.id), why)?;
        reward.reversed += amount;
        let variant = match &reward.referee {
            Some(r) => self.variant_above(r)?,
            None => None,
        };
        self.count(|c| {
            *c.granted.entry(value.asset().clone()).or_default() -= amount;
            if let Some(v) = &variant {
                let figures = c.variants.entry(v.clone()).or_default();
                *figures.granted.entry(value.asset().clone()).or_default() -= amount;
            }
        })?;
        if reward.role != Role::Referee {
            let mut p = self.known_participant(&reward.beneficiary)?;
            *p.stats.earned.entry(value.asset().clone()).or_default() -= amount;
            self.save_participant(p)?;
        }
        if let Some(referee) = reward.referee.clone() {
            if let Some(mut r) = self.referral_of(&referee)? {
                add_earned(&mut r, &reward.rule, &value.with_amount(-amount))?;
                self.save_referral(r)?;
            }
        }
        self.out.notices.push(Notice::RewardReversed {
            reward: reward.id,
            beneficiary: reward.beneficiary.clone(),
            value,
        });
        self.save_reward(reward)
    }
}

fn add_earned(r: &mut Referral, rule: &str, value: &Value) -> Result<(), Error> {
    match r.earned.iter_mut().find(|e| e.rule == rule && e.value.asset() == value.asset()) {
        Some(e) => e.value = e.value.checked_add(value)?,
        None => r.earned.push(RuleEarnings { rule: rule.to_owned(), value: value.clone() }),
    }
    Ok(())
}
