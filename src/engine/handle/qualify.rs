//! Qualification: a referral qualifies (by sign-up, purchase or action) or
//! expires; actions may pay rules of their own.

use chrono::Duration;

use crate::domain::id::ParticipantId;
use crate::domain::referral::{Referral, ReferralStatus};
use crate::domain::value::inc;
use crate::engine::cx::*;
use crate::engine::grant;
use crate::error::{Error, Refusal};
use crate::event::Notice;
use crate::policy::Trigger;
use crate::program::Qualification;
use crate::store::Key;

/// Moves an attributed referral to qualified and runs the policies, unless
/// its qualification window has passed (then it expires).
pub(crate) fn qualify(cx: &mut Cx<'_, '_>, referee: &ParticipantId) -> Result<bool, Error> {
    let Some(mut referral) = cx.referral_of(referee)? else {
        return Ok(false);
    };
    if referral.status != ReferralStatus::Attributed {
        return Ok(false);
    }
    if let Some(days) = cx.program.spec().qualification_window_days
        && cx.now >= later(referral.attributed_at, Duration::days(i64::from(days)), "qualification_window_days")?
    {
        expire(cx, referral)?;
        return Ok(false);
    }
    referral.transition(ReferralStatus::Qualified, cx.now, &cx.event.key);
    referral.qualified_at = Some(cx.now);
    cx.update_participant(&referral.referrer, |r| {
        inc(&mut r.stats.qualified);
        Ok(())
    })?;
    let (channel, variant) = (referral.channel.tag().to_owned(), cx.variant_above(referee)?);
    cx.count(|c| c.count_qualified(&channel, variant.as_deref()))?;
    cx.count_referrer_day(&referral.referrer, |d| inc(&mut d.qualified))?;
    cx.out.notices.push(Notice::ReferralQualified {
        referral: referral.id,
        referrer: referral.referrer.clone(),
        referee: referee.clone(),
    });
    cx.save_referral(referral.clone())?;
    grant::reward(cx, &Trigger::Qualified, referee, Some(referral))?;
    Ok(true)
}

pub(crate) fn expire(cx: &mut Cx<'_, '_>, mut referral: Referral) -> Result<(), Error> {
    referral.transition(ReferralStatus::Expired, cx.now, &cx.event.key);
    cx.out.notices.push(Notice::ReferralExpired { referral: referral.id, referrer: referral.referrer.clone() });
    cx.count(|c| inc(&mut c.expired))?;
    cx.save_referral(referral)
}

pub(crate) fn action(cx: &mut Cx<'_, '_>, participant: &ParticipantId, name: &str) -> Result<(), Error> {
    cx.read_ahead([Some(Key::participant(cx.program.id(), participant).into_key())])?;
    if !crate::domain::id::is_name(name) {
        return Err(Refusal::InvalidEvent(format!("action name {name:?} is not 1 to 64 printable characters")).into());
    }
    cx.require_open()?;
    cx.known_participant(participant)?;
    if cx.program.spec().qualification == Qualification::Action(name.to_owned()) {
        qualify(cx, participant)?;
    }
    let referral = cx.referral_of(participant)?.filter(|r| r.status.is_qualified());
    grant::reward(cx, &Trigger::Action { name: name.to_owned() }, participant, referral)
}
