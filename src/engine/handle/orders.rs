//! Orders and refunds: purchases (which may qualify a referral and pay
//! per-purchase rules), coupons on them, refunds and chargebacks.

use rust_decimal::Decimal;

use super::{qualify, sign_up};
use crate::domain::code::Channel;
use crate::domain::id::{OrderId, ParticipantId};
use crate::domain::ledger::Reversal;
use crate::domain::order::Order;
use crate::domain::referral::ReferralStatus;
use crate::domain::value::{Checked, Value, add_to, inc, negated};
use crate::engine::cx::*;
use crate::engine::{grant, ledger};
use crate::error::{Error, Refusal};
use crate::event::Notice;
use crate::policy::Trigger;
use crate::program::Qualification;
use crate::store::Key;

pub(crate) fn purchase(
    cx: &mut Cx<'_, '_>,
    customer: &ParticipantId,
    order_id: &OrderId,
    amount: &Value,
    coupon: Option<&str>,
) -> Result<(), Error> {
    let p = cx.program.id();
    let order_key = Key::order(p, order_id);
    cx.read_ahead([
        Some(order_key.key().clone()),
        Some(Key::referral(p, customer).into_key()),
        Some(Key::participant(p, customer).into_key()),
    ])?;
    cx.program_money(amount)?;
    cx.require_open()?;
    if cx.tx.get(&order_key)?.is_some() {
        return Err(Refusal::DuplicateOrder(order_id.clone()).into());
    }
    if let Some(code) = coupon
        && cx.referral_of(customer)?.is_none()
    {
        redeem_coupon(cx, customer, code)?;
    }
    let mut order = Order {
        id: order_id.clone(),
        customer: customer.clone(),
        referral: None,
        amount: amount.clone(),
        refunded: Decimal::ZERO,
        rewards: vec![],
        qualifying: false,
        at: cx.now,
    };
    let Some(mut referral) = cx.referral_of(customer)?.filter(|r| r.status.is_live()) else {
        cx.tx.put_new(order_key, order);
        return Ok(());
    };
    cx.read_ahead_referrer(&referral.referrer)?;
    order.referral = Some(referral.id);
    referral.purchases = referral.purchases.saturating_add(1);
    let first_ever = referral.purchases == 1;
    cx.save_referral(referral.clone())?;
    let variant = cx.variant_above(customer)?;
    cx.count_money(|c| c.add_revenue(amount.amount(), variant.as_deref()))?;
    if first_ever {
        cx.update_participant(&referral.referrer, |r| {
            inc(&mut r.stats.sales);
            Ok(())
        })?;
    }
    if let Qualification::FirstPurchase { minimum } = &cx.program.spec().qualification
        && referral.status == ReferralStatus::Attributed
        && minimum.as_ref().is_none_or(|m| amount.amount() >= m.amount())
    {
        order.qualifying = qualify::qualify(cx, customer)?;
    }
    if let Some(mut referral) = cx.referral_of(customer)?.filter(|r| r.status.is_qualified()) {
        // `first`: the first purchase of a qualified referral, which is the
        // qualifying one when a purchase qualifies it.
        referral.qualified_purchases = referral.qualified_purchases.saturating_add(1);
        let first = referral.qualified_purchases == 1;
        cx.save_referral(referral.clone())?;
        let trigger = Trigger::Purchase { order: order_id.clone(), amount: amount.clone(), first };
        grant::reward(cx, &trigger, customer, Some(referral))?;
    }
    order.rewards = cx.out.rewards.iter().filter(|r| r.order.as_ref() == Some(order_id)).map(|r| r.id).collect();
    cx.tx.put_new(order_key, order);
    Ok(())
}

/// A coupon on a purchase signs its customer up with the code; a coupon
/// that cannot (unknown, own, already used, a cycle...) is ignored with a
/// notice, and the purchase is recorded all the same.
pub(crate) fn redeem_coupon(cx: &mut Cx<'_, '_>, customer: &ParticipantId, code: &str) -> Result<(), Error> {
    let before = (cx.out.clone(), cx.totals.clone(), cx.day.clone());
    let layer = cx.tx.begin();
    match sign_up::sign_up(cx, customer, code, &Channel::Coupon, None, &[]) {
        Ok(()) => {
            cx.tx.keep(layer);
            Ok(())
        }
        Err(Error::Refused(refused)) => {
            cx.tx.drop_to(layer);
            (cx.out, cx.totals, cx.day) = before;
            cx.out.notices.push(Notice::CouponIgnored { customer: customer.clone(), reason: refused.to_string() });
            Ok(())
        }
        Err(failed) => Err(failed),
    }
}

pub(crate) fn refund(cx: &mut Cx<'_, '_>, order_id: &OrderId, amount: &Value, what: &str) -> Result<(), Error> {
    amount.check_bounds()?;
    let key = Key::order(cx.program.id(), order_id);
    let mut order = cx.tx.get(&key)?.ok_or_else(|| Refusal::UnknownOrder(order_id.clone()))?;
    if amount.asset() != order.amount.asset() {
        return Err(Refusal::CurrencyMismatch {
            expected: order.amount.asset().clone(),
            found: amount.asset().clone(),
        }
        .into());
    }
    if !amount.is_positive() {
        return Err(Refusal::InvalidAmount(amount.clone()).into());
    }
    let remaining = order.amount.amount().minus(order.refunded)?;
    if amount.amount() > remaining {
        return Err(
            Refusal::RefundExceedsOrder { order: order_id.clone(), requested: amount.amount(), remaining }.into()
        );
    }
    add_to(&mut order.refunded, amount.amount())?;
    let full = order.refunded == order.amount.amount();
    if order.referral.is_some() {
        let variant = cx.variant_above(&order.customer)?;
        cx.count_money(|c| c.add_revenue(negated(amount.amount()), variant.as_deref()))?;
    }
    for reward_id in order.rewards.clone() {
        let Some(reward) = cx.tx.get(&Key::reward(cx.program.id(), &reward_id))? else {
            continue;
        };
        let target = match reward.reversal {
            Reversal::Proportional if full => reward.value.amount(),
            Reversal::Proportional => {
                // The refunded share first, so that a large reward times a
                // large refund does not overflow before the division.
                let share = order.refunded.over(order.amount.amount())?;
                let exact = reward.value.amount().times(share)?;
                reward.value.round_amount(exact, cx.program.terms().rounding)
            }
            Reversal::OnFullRefund if full => reward.value.amount(),
            _ => reward.reversed,
        };
        let delta = target.min(reward.value.amount()).minus(reward.reversed)?;
        if delta > Decimal::ZERO {
            let why = format!(
                "{what} of {amount} on order {order_id} reverses {} of: {}",
                reward.value.with_amount(delta),
                reward.explanation
            );
            ledger::reverse(cx, reward, delta, &why)?;
        }
    }
    if full
        && order.qualifying
        && let Some(mut referral) = cx.referral_of(&order.customer)?
        && referral.status.is_qualified()
    {
        cx.give_back(&mut referral)?;
        referral.transition(ReferralStatus::Reversed, cx.now, &cx.event.key);
        cx.out.notices.push(Notice::ReferralReversed { referral: referral.id, referrer: referral.referrer.clone() });
        cx.count(|c| inc(&mut c.reversed))?;
        cx.save_referral(referral)?;
    }
    cx.tx.put(key, order)
}
