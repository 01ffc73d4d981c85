//! Review: a reviewer approves or rejects a flagged referral, releasing or
//! reversing the rewards its review held.

use rust_decimal::Decimal;

use crate::domain::due::Due;
use crate::domain::id::ParticipantId;
use crate::domain::ledger::RewardStatus;
use crate::domain::referral::{ReferralStatus, RejectReason};
use crate::engine::cx::*;
use crate::engine::ledger;
use crate::error::{Error, Refusal};
use crate::event::Notice;
use crate::store::Key;

/// A reviewer's decision on a flagged referral: approve (`None`) or reject with a reason.
pub(crate) fn review(cx: &mut Cx<'_, '_>, referee: &ParticipantId, rejection: Option<&String>) -> Result<(), Error> {
    let not_in_review = || Refusal::NotInReview(referee.clone());
    let mut referral = cx.referral_of(referee)?.ok_or_else(not_in_review)?;
    let key = Key::review(cx.program.id(), referee, &referral.id);
    let item = cx.tx.get(&key)?.ok_or_else(not_in_review)?;
    referral.in_review = None;
    cx.tx.delete(key)?;
    match rejection {
        None => {
            cx.out
                .notices
                .push(Notice::ReferralApproved { referral: referral.id, referrer: referral.referrer.clone() });
            cx.save_referral(referral)?;
            for id in &item.held {
                let Some(mut reward) = cx.tx.get(&Key::reward(cx.program.id(), id))? else {
                    continue;
                };
                let until = later(reward.granted_at, cx.program.hold(), "hold_days")?;
                if until > cx.now {
                    reward.status = RewardStatus::Pending(until);
                    cx.tx.put_new(Key::due(cx.program.id(), until, &id.to_string()), Due::Release(*id));
                    cx.save_reward(reward)?;
                } else {
                    cx.save_reward(reward)?;
                    ledger::release(cx, id)?;
                }
            }
        }
        Some(words) => {
            if words.trim().is_empty() || words.len() > 500 {
                return Err(Refusal::InvalidEvent("a rejection needs a reason of 1 to 500 characters".into()).into());
            }
            // A referral that expired, or was reversed by a full refund,
            // while in review keeps its end (and the count of it): the
            // rejection only reverses the rewards the review held.
            // The rewards the review held are reversed first (each books
            // into the referral), then the referral gives back its counts.
            for id in &item.held {
                let Some(reward) = cx.tx.get(&Key::reward(cx.program.id(), id))? else { continue };
                let left = reward.outstanding();
                if left > Decimal::ZERO {
                    let why = format!("review rejected ({words}): reverses {}", reward.explanation);
                    ledger::reverse(cx, reward, left, &why)?;
                }
            }
            let mut referral = cx.referral_of(referee)?.ok_or_else(not_in_review)?;
            referral.in_review = None;
            cx.give_back(&mut referral)?;
            if !matches!(referral.status, ReferralStatus::Expired | ReferralStatus::Reversed) {
                let reason = RejectReason::Review(words.clone());
                referral.transition(ReferralStatus::Rejected(reason.clone()), cx.now, &cx.event.key);
                cx.out.notices.push(Notice::ReferralRejected {
                    referral: referral.id,
                    referrer: referral.referrer.clone(),
                    reason,
                });
                cx.count(|c| c.count_rejected("review"))?;
            }
            cx.save_referral(referral)?;
        }
    }
    Ok(())
}
