//! Granting: the program's policies turned into rewards for one trigger,
//! under every limit (suspension, once per referee, max rewarded referrals,
//! referrer caps, budgets), with holds and review. It calls the ledger and
//! the context, never a handler.

use rust_decimal::Decimal;

use crate::domain::due::Due;
use crate::domain::id::{ParticipantId, RewardId};
use crate::domain::ledger::{Bucket, EntryKind, Reward, RewardStatus, Role};
use crate::domain::referral::{PaidOnce, Referral, ReferralStatus};
use crate::domain::value::{Value, add_to, inc};
use crate::engine::cx::*;
use crate::engine::ledger;
use crate::error::{Error, Refusal};
use crate::event::{EventKind, LimitReason, Notice, Purchase};
use crate::policy::{Grant, PolicyContext, Trigger};
use crate::program::BudgetMode;
use crate::store::Key;

/// The referrers above `referee`, nearest first: distinct, never the
/// referee, at most `depth` long. A cycle ends the walk.
pub(crate) fn chain(
    cx: &mut Cx<'_, '_>,
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
        next = cx.participant(&id)?.and_then(|p| p.referred_by);
        chain.push(id);
    }
    Ok(chain)
}

/// Runs every policy of the program on a trigger and grants what they ask,
/// within the program's limits.
pub(crate) fn reward(
    cx: &mut Cx<'_, '_>,
    trigger: &Trigger,
    actor: &ParticipantId,
    referral: Option<Referral>,
) -> Result<(), Error> {
    let depth = cx.program.chain_depth();
    let chain = match &referral {
        Some(r) => chain(cx, &r.referrer, &r.referee, depth)?,
        None => vec![],
    };
    let stats_owner = chain.first().unwrap_or(actor).clone();
    let owner = cx.participant(&stats_owner)?;
    let stats = owner.as_ref().map(|p| p.stats.clone());
    let segment = owner.as_ref().and_then(|p| p.segment.clone());
    let mut grants: Vec<(String, Grant)> = Vec::new();
    {
        let ctx = PolicyContext {
            terms: cx.program.terms(),
            trigger,
            actor,
            referral: referral.as_ref(),
            chain: &chain,
            stats: stats.as_ref(),
            segment: segment.as_deref(),
            now: cx.now,
        };
        let variant: &[std::sync::Arc<dyn crate::policy::RewardPolicy>] =
            match owner.as_ref().and_then(|p| p.variant.as_deref()) {
                Some(v) => cx.program.variant_policies(v),
                None => &[],
            };
        for policy in cx.program.policies().iter().chain(variant) {
            let asked =
                policy.grants(&ctx).map_err(|source| Refusal::Policy { rule: policy.name().to_owned(), source })?;
            for g in asked {
                let rule = match &g.rule_suffix {
                    Some(s) => format!("{}/{s}", policy.name()),
                    None => policy.name().to_owned(),
                };
                grants.push((rule, g));
            }
        }
    }
    for (rule, each) in grants {
        grant(cx, trigger, referral.as_ref().map(|r| &r.referee), rule, each)?;
    }
    Ok(())
}

/// Applies limits to one grant and writes it.
pub(crate) fn grant(
    cx: &mut Cx<'_, '_>,
    trigger: &Trigger,
    referee: Option<&ParticipantId>,
    rule: String,
    grant: Grant,
) -> Result<(), Error> {
    let Some(mut beneficiary) = cx.participant(&grant.beneficiary)? else {
        return Ok(());
    };
    let asked = grant.value.with_amount(grant.value.round_amount(grant.value.amount(), cx.program.terms().rounding));
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
        cx.out.notices.push(withheld(LimitReason::Suspended));
        return Ok(());
    }
    let limits = &cx.program.spec().limits;
    // The referral this grant is for, when it is for one.
    let mut referral = match referee {
        Some(r) => cx.referral_of(r)?,
        None => None,
    };
    // A rule that pays once per referee pays each role once, whoever
    // holds the attribution now (see `Referral::paid_once`).
    let once = trigger.pays_once().then(|| PaidOnce { rule: rule.clone(), role: grant.role });
    if let (Some(once), Some(r)) = (&once, &referral) {
        if r.paid_once.contains(once) {
            cx.out.notices.push(withheld(LimitReason::AlreadyPaid));
            return Ok(());
        }
    }
    // The first reward a referral earns its referrer makes it one of the
    // referrer's rewarded referrals, whatever the trigger.
    let newly_counted = grant.role == Role::Referrer
        && referral.as_ref().is_some_and(|r| !r.counts_for_referrer && r.status != ReferralStatus::Rewarded);
    if newly_counted {
        if let Some(max) = limits.max_rewarded_referrals {
            if beneficiary.stats.rewarded_referrals >= max {
                cx.out.notices.push(withheld(LimitReason::MaxRewardedReferrals(max)));
                return Ok(());
            }
        }
    }
    let newly_rewarded =
        grant.role == Role::Referrer && referral.as_ref().is_some_and(|r| r.status == ReferralStatus::Qualified);
    let mut value = asked.clone();
    let mut cuts = Vec::new();
    if grant.role != Role::Referee {
        if let Some(cap) = limits.referrer_cap(value.asset()) {
            let room = room_under(&value, cap, beneficiary.stats.earned_in(value.asset()))?;
            if room < value.amount() {
                value = value.with_amount(room);
                cuts.push(LimitReason::ReferrerCap(value.with_amount(cap)));
            }
        }
    }
    if let Some(budget) = limits.budget(value.asset()) {
        let granted = cx.granted_so_far(value.asset())?;
        let room = room_under(&value, budget, granted)?;
        if room < value.amount() {
            if limits.budget_mode == BudgetMode::Refuse {
                cx.out.notices.push(withheld(LimitReason::Budget(value.with_amount(budget))));
                return Ok(());
            }
            value = value.with_amount(room);
            cuts.push(LimitReason::Budget(value.with_amount(budget)));
        }
    }
    if !value.is_positive() {
        let reason = cuts.pop().unwrap_or(LimitReason::Suspended);
        cx.out.notices.push(withheld(reason));
        return Ok(());
    }
    for reason in cuts {
        cx.out.notices.push(Notice::RewardCut {
            beneficiary: grant.beneficiary.clone(),
            rule: rule.clone(),
            asked: asked.clone(),
            granted: value.clone(),
            reason,
        });
    }

    // Counters that move with the grant (the budget among them).
    let variant = match referee {
        Some(r) => cx.variant_above(r)?,
        None => None,
    };
    let granted = value.clone();
    cx.count_money(|c| c.add_granted(granted.asset(), granted.amount(), variant.as_deref()))?;
    if newly_counted {
        cx.count(|c| inc(&mut c.rewarded))?;
        inc(&mut beneficiary.stats.rewarded_referrals);
    }
    if grant.role != Role::Referee {
        add_to(beneficiary.stats.earned.entry(value.asset().clone()).or_default(), value.amount())?;
    }
    cx.save_participant(beneficiary)?;
    if let Some(r) = referral.as_mut() {
        ledger::add_earned(r, &rule, &value)?;
        r.counts_for_referrer |= newly_counted;
        r.paid_once.extend(once);
        if newly_rewarded {
            r.transition(ReferralStatus::Rewarded, cx.now, &cx.event.key);
        }
        cx.save_referral(r.clone())?;
    }

    let hold = cx.program.hold();
    let in_review = referral.as_ref().is_some_and(|r| r.in_review.is_some());
    let (status, bucket) = if in_review {
        (RewardStatus::InReview, Bucket::Pending)
    } else if hold.is_zero() {
        (RewardStatus::Available, Bucket::Available)
    } else {
        (RewardStatus::Pending(later(cx.now, hold, "hold_days")?), Bucket::Pending)
    };
    let mut explanation = grant.explanation.clone();
    if value != asked {
        explanation.push_str(&format!("; limited to {value}"));
    }
    let reward = Reward {
        id: RewardId::from_uuid(cx.ids.next()),
        program: cx.program.id().clone(),
        beneficiary: grant.beneficiary.clone(),
        role: grant.role,
        value: value.clone(),
        rule,
        explanation: explanation.clone(),
        referral: referral.as_ref().map(|r| r.id),
        referee: referee.cloned(),
        // Everything a purchase earns (its qualification's rewards too)
        // hangs on that order, so refunding it reverses them.
        order: match (&cx.event.kind, trigger) {
            (_, Trigger::Purchase { order, .. }) | (EventKind::Purchase(Purchase { order, .. }), _) => {
                Some(order.clone())
            }
            _ => None,
        },
        reversal: grant.reversal,
        reversed: Decimal::ZERO,
        status: status.clone(),
        granted_at: cx.now,
        event: cx.event.key.clone(),
    };
    if let (true, Some(r), Some(referral)) = (in_review, referee, reward.referral) {
        let key = Key::review(cx.program.id(), r, &referral);
        if let Some(mut item) = cx.tx.get(&key)? {
            item.held.push(reward.id);
            cx.tx.put(key, item)?;
        }
    }
    if let RewardStatus::Pending(until) = status {
        cx.tx.put_new(Key::due(cx.program.id(), until, &reward.id.to_string()), Due::Release(reward.id));
    }
    ledger::post(cx, &grant.beneficiary, &value, bucket, EntryKind::Grant, Some(reward.id), &explanation)?;
    cx.out.notices.push(Notice::RewardGranted { reward: reward.id, beneficiary: grant.beneficiary.clone(), value });
    cx.save_new_reward(reward);
    Ok(())
}

/// What is left under a limit, never below zero, in whole units of the
/// value's asset (rounded down: a limit is never crossed by a rounding).
fn room_under(value: &Value, limit: Decimal, used: Decimal) -> Result<Decimal, Error> {
    let room = limit.checked_sub(used).ok_or(crate::domain::value::ValueError::Overflow)?.max(Decimal::ZERO);
    Ok(match value.asset().scale() {
        Some(scale) => crate::domain::value::Rounding::Down.round(room, scale),
        None => room,
    })
}
