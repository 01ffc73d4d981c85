//! The ledger: posting entries (and the balance that moves with each),
//! releasing held rewards, reversing rewards in part or whole.

use rust_decimal::Decimal;

use crate::domain::id::{EntryId, ParticipantId, RewardId};
use crate::domain::ledger::{Bucket, EntryKind, LedgerEntry, Reward, RewardStatus, Role};
use crate::domain::referral::{Referral, RuleEarnings};
use crate::domain::value::{Value, add_to, negated};
use crate::engine::cx::*;
use crate::error::Error;
use crate::event::Notice;
use crate::store::Key;

/// Appends one entry and moves the participant's balance with it.
pub(crate) fn post(
    cx: &mut Cx<'_, '_>,
    who: &ParticipantId,
    value: &Value,
    bucket: Bucket,
    kind: EntryKind,
    reward: Option<RewardId>,
    why: &str,
) -> Result<(), Error> {
    cx.update_participant(who, |p| Ok(p.post(value, bucket)?))?;
    let entry = LedgerEntry {
        id: EntryId::from_uuid(cx.ids.next()),
        program: cx.program.id().clone(),
        participant: who.clone(),
        value: value.clone(),
        bucket,
        kind,
        reward,
        explanation: why.to_owned(),
        event: cx.event.key.clone(),
        at: cx.now,
    };
    cx.tx.put_new(Key::entry(cx.program.id(), who, &entry.id), entry.clone());
    cx.out.entries.push(entry);
    Ok(())
}

pub(crate) fn release(cx: &mut Cx<'_, '_>, id: &RewardId) -> Result<(), Error> {
    let key = Key::reward(cx.program.id(), id);
    let Some(mut reward) = cx.tx.get(&key)? else {
        return Ok(());
    };
    // Only a hold that has ended (a review approval releases by setting
    // the status first).
    match reward.status {
        RewardStatus::Pending(until) if until <= cx.now => {}
        RewardStatus::InReview => {}
        _ => return Ok(()),
    }
    reward.status = RewardStatus::Available;
    let left = reward.value.with_amount(reward.outstanding());
    if !left.amount().is_zero() {
        let why = format!("hold ended: {}", reward.explanation);
        post(
            cx,
            &reward.beneficiary,
            &left.with_amount(negated(left.amount())),
            Bucket::Pending,
            EntryKind::Release,
            Some(reward.id),
            &why,
        )?;
        post(cx, &reward.beneficiary, &left, Bucket::Available, EntryKind::Release, Some(reward.id), &why)?;
        cx.out.notices.push(Notice::RewardAvailable {
            reward: reward.id,
            beneficiary: reward.beneficiary.clone(),
            value: left,
        });
    }
    cx.save_reward(reward)
}

/// Takes `amount` of a reward back, from the bucket it sits in.
pub(crate) fn reverse(cx: &mut Cx<'_, '_>, mut reward: Reward, amount: Decimal, why: &str) -> Result<(), Error> {
    let value = reward.value.with_amount(amount);
    let bucket = match reward.status {
        RewardStatus::Available => Bucket::Available,
        _ => Bucket::Pending,
    };
    let back = value.with_amount(negated(amount));
    post(cx, &reward.beneficiary, &back, bucket, EntryKind::Reversal, Some(reward.id), why)?;
    add_to(&mut reward.reversed, amount)?;
    let variant = match &reward.referee {
        Some(r) => cx.variant_above(r)?,
        None => None,
    };
    cx.count_money(|c| c.add_granted(value.asset(), negated(amount), variant.as_deref()))?;
    if reward.role != Role::Referee {
        cx.update_participant(&reward.beneficiary, |p| {
            Ok(add_to(p.stats.earned.get_or_default(value.asset().clone()), negated(amount))?)
        })?;
    }
    // Into the referral the reward was earned on: the referee's slot holds
    // another one once a later touch superseded it.
    let wholly = reward.role == Role::Referrer && reward.outstanding().is_zero();
    if let Some(referee) = reward.referee.clone() {
        let current = cx.referral_of(&referee)?.filter(|r| reward.referral.is_none_or(|id| r.id == id));
        if let Some(mut r) = current {
            book_reversal(cx, &mut r, &reward.rule, &back, wholly)?;
            cx.save_referral(r)?;
        } else if let Some(id) = reward.referral {
            let key = Key::superseded(cx.program.id(), &id);
            if let Some(mut r) = cx.tx.get(&key)? {
                book_reversal(cx, &mut r, &reward.rule, &back, wholly)?;
                cx.tx.put(key, r)?;
            }
        }
    }
    cx.out.notices.push(Notice::RewardReversed { reward: reward.id, beneficiary: reward.beneficiary.clone(), value });
    cx.save_reward(reward)
}

/// Books a reversal into the referral it was earned on: its earnings, and,
/// when a referrer reward is `wholly` reversed, its standing rewards; a
/// referral that left the live states and has none left gives its place
/// among its referrer's rewarded referrals back.
fn book_reversal(cx: &mut Cx<'_, '_>, r: &mut Referral, rule: &str, back: &Value, wholly: bool) -> Result<(), Error> {
    add_earned(r, rule, back)?;
    if wholly {
        r.standing_referrer_rewards = r.standing_referrer_rewards.saturating_sub(1);
        if !r.status.is_live() && r.counts_for_referrer {
            cx.give_back(r)?;
        }
    }
    Ok(())
}

/// Adds `value` to what `r` earned under `rule`.
pub(crate) fn add_earned(r: &mut Referral, rule: &str, value: &Value) -> Result<(), Error> {
    match r.earned.iter_mut().find(|e| e.rule == rule && e.value.asset() == value.asset()) {
        Some(e) => e.value = e.value.checked_add(value)?,
        None => r.earned.push(RuleEarnings { rule: rule.to_owned(), value: value.clone() }),
    }
    Ok(())
}
