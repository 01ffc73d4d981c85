//! Granting: the program's policies turned into rewards for one trigger,
//! under every limit (suspension, once per referee, max rewarded referrals,
//! referrer caps, budgets), with holds and review. It calls the ledger and
//! the context, never a handler.

use rust_decimal::Decimal;

use crate::domain::due::Due;
use crate::domain::id::{ParticipantId, RewardId};
use crate::domain::ledger::{Bucket, EntryKind, Reward, RewardStatus, Role};
use crate::domain::participant::Participant;
use crate::domain::referral::{PaidOnce, Referral, ReferralStatus};
use crate::domain::value::{Asset, Value, add_to, inc};
use crate::engine::cx::*;
use crate::engine::ledger;
use crate::error::{Error, Refusal};
use crate::event::{EventKind, LimitReason, Notice, Purchase};
use crate::policy::{Grant, PolicyContext, Trigger};
use crate::program::{BudgetMode, Limits};
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

/// What the limits make of one grant.
#[derive(Debug, PartialEq)]
pub(crate) enum Limited {
    /// Nothing is granted, for this reason.
    Withheld(LimitReason),
    /// This is granted.
    Award(Award),
}

/// A grant as the limits leave it: what to pay, the limits that cut it, and
/// what paying it changes in the referrer's and the referral's counts.
#[derive(Debug, PartialEq)]
pub(crate) struct Award {
    pub(crate) value: Value,
    pub(crate) cuts: Vec<LimitReason>,
    /// It makes the referral one of its referrer's rewarded referrals.
    pub(crate) newly_counted: bool,
    /// It moves a qualified referral to rewarded.
    pub(crate) newly_rewarded: bool,
    /// The once-per-referee mark it leaves on the referral, if its rule pays once.
    pub(crate) once: Option<PaidOnce>,
}

/// Applies every limit to one grant of `asked` to a beneficiary in `role`:
/// suspension, once per referee (`once`: the rule's mark, if it pays once),
/// max rewarded referrals, the referrer's cap, the budget. Pure:
/// it reads nothing but what it is given (`budget_used` is asked only when
/// the asset has a budget).
pub(crate) fn limit(
    limits: &Limits,
    role: Role,
    asked: &Value,
    once: Option<PaidOnce>,
    beneficiary: &Participant,
    referral: Option<&Referral>,
    budget_used: impl FnOnce(&Asset) -> Result<Decimal, Error>,
) -> Result<Limited, Error> {
    if beneficiary.suspended {
        return Ok(Limited::Withheld(LimitReason::Suspended));
    }
    if let (Some(once), Some(r)) = (&once, referral)
        && r.paid_once.contains(once)
    {
        return Ok(Limited::Withheld(LimitReason::AlreadyPaid));
    }
    // The first reward a referral earns its referrer makes it one of the
    // referrer's rewarded referrals, whatever the trigger.
    let newly_counted = role == Role::Referrer
        && referral.is_some_and(|r| !r.counts_for_referrer && r.status != ReferralStatus::Rewarded);
    if let (true, Some(max)) = (newly_counted, limits.max_rewarded_referrals)
        && beneficiary.stats.rewarded_referrals >= max
    {
        return Ok(Limited::Withheld(LimitReason::MaxRewardedReferrals(max)));
    }
    let newly_rewarded = role == Role::Referrer && referral.is_some_and(|r| r.status == ReferralStatus::Qualified);
    let mut value = asked.clone();
    let mut cuts = Vec::new();
    if role != Role::Referee
        && let Some(cap) = limits.referrer_cap(value.asset())
    {
        let room = room_under(&value, cap, beneficiary.stats.earned_in(value.asset()))?;
        if room < value.amount() {
            value = value.with_amount(room);
            cuts.push(LimitReason::ReferrerCap(value.with_amount(cap)));
        }
    }
    if let Some(budget) = limits.budget(value.asset()) {
        let room = room_under(&value, budget, budget_used(value.asset())?)?;
        if room < value.amount() {
            if limits.budget_mode == BudgetMode::Refuse {
                return Ok(Limited::Withheld(LimitReason::Budget(value.with_amount(budget))));
            }
            value = value.with_amount(room);
            cuts.push(LimitReason::Budget(value.with_amount(budget)));
        }
    }
    if !value.is_positive() {
        return Ok(Limited::Withheld(cuts.pop().unwrap_or(LimitReason::Suspended)));
    }
    Ok(Limited::Award(Award { value, cuts, newly_counted, newly_rewarded, once }))
}

/// Applies the limits to one grant and writes what they leave: the counts,
/// the beneficiary's stats, the referral, the reward, its hold or review,
/// and its ledger entry.
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
    // The referral this grant is for, when it is for one.
    let mut referral = match referee {
        Some(r) if !beneficiary.suspended => cx.referral_of(r)?,
        _ => None,
    };
    let limits = &cx.program.spec().limits;
    // A rule that pays once per referee pays each role once, whoever
    // holds the attribution now (see `Referral::paid_once`).
    let once = trigger.pays_once().then(|| PaidOnce { rule: rule.clone(), role: grant.role });
    let limited =
        limit(limits, grant.role, &asked, once, &beneficiary, referral.as_ref(), |asset| cx.granted_so_far(asset))?;
    let Award { value, cuts, newly_counted, newly_rewarded, once } = match limited {
        Limited::Award(award) => award,
        Limited::Withheld(reason) => {
            cx.out.notices.push(Notice::RewardWithheld { beneficiary: grant.beneficiary.clone(), rule, asked, reason });
            return Ok(());
        }
    };
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
        add_to(beneficiary.stats.earned.get_or_default(value.asset().clone()), value.amount())?;
    }
    cx.save_participant(beneficiary)?;
    if let Some(r) = referral.as_mut() {
        ledger::add_earned(r, &rule, &value)?;
        if grant.role == Role::Referrer {
            r.standing_referrer_rewards = r.standing_referrer_rewards.saturating_add(1);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::id::ProgramId;

    fn v(s: &str) -> Value {
        s.parse().unwrap()
    }

    fn referrer() -> Participant {
        Participant::new(ProgramId::new("p").unwrap(), ParticipantId::new("ann").unwrap(), chrono::Utc::now())
    }

    fn no_budget(_: &Asset) -> Result<Decimal, Error> {
        panic!("asked for the budget of a program without one")
    }

    fn award(limited: Limited) -> Award {
        match limited {
            Limited::Award(a) => a,
            Limited::Withheld(r) => panic!("withheld: {r:?}"),
        }
    }

    #[test]
    fn a_suspended_beneficiary_gets_nothing() {
        let mut ann = referrer();
        ann.suspended = true;
        let limited = limit(&Limits::default(), Role::Referrer, &v("5.00 USD"), None, &ann, None, no_budget);
        assert_eq!(limited.unwrap(), Limited::Withheld(LimitReason::Suspended));
    }

    #[test]
    fn the_referrer_cap_cuts_to_what_is_left_rounded_down() {
        let mut ann = referrer();
        ann.stats.earned.insert(v("1 USD").asset().clone(), "8.005".parse().unwrap());
        let limits = Limits { referrer_caps: vec![v("10.00 USD")], ..Limits::default() };
        let a = award(limit(&limits, Role::Referrer, &v("5.00 USD"), None, &ann, None, no_budget).unwrap());
        assert_eq!(a.value, v("1.99 USD"));
        assert_eq!(a.cuts, vec![LimitReason::ReferrerCap(v("10.00 USD"))]);
        // The referee's side is not under the referrer's cap.
        let friend = award(limit(&limits, Role::Referee, &v("5.00 USD"), None, &ann, None, no_budget).unwrap());
        assert_eq!(friend.value, v("5.00 USD"));
    }

    #[test]
    fn a_budget_cuts_or_refuses_as_the_program_says() {
        let ann = referrer();
        let used = |_: &Asset| Ok::<_, Error>("97.00".parse().unwrap());
        let cut = Limits { budgets: vec![v("100.00 USD")], ..Limits::default() };
        let a = award(limit(&cut, Role::Referrer, &v("5.00 USD"), None, &ann, None, used).unwrap());
        assert_eq!((a.value, a.cuts), (v("3.00 USD"), vec![LimitReason::Budget(v("100.00 USD"))]));
        let refuse = Limits { budget_mode: BudgetMode::Refuse, ..cut };
        let limited = limit(&refuse, Role::Referrer, &v("5.00 USD"), None, &ann, None, used).unwrap();
        assert_eq!(limited, Limited::Withheld(LimitReason::Budget(v("100.00 USD"))));
    }
}
