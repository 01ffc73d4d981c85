//! Sign-up and attribution: a referee signs up with a code (or an invite is
//! sent); checks, velocity, screening, last-touch supersession, rewards.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::{qualify, screen};
use crate::domain::code::{Channel, ReferralCode};
use crate::domain::code::{CodeRecord, CodeUse};
use crate::domain::due::Due;
use crate::domain::id::{ParticipantId, ReferralId};
use crate::domain::ledger::RewardStatus;
use crate::domain::participant::Participant;
use crate::domain::referral::{PaidOnce, Referral, ReferralStatus, RejectReason, Transition};
use crate::domain::review::ReviewItem;
use crate::domain::value::inc;
use crate::engine::cx::*;
use crate::engine::handle::screen::{Screen, merge_signals};
use crate::engine::{grant, ledger};
use crate::error::{Error, Refusal};
use crate::event::Notice;
use crate::fraud::Signal;
use crate::policy::Trigger;
use crate::program::{AttributionModel, Qualification};
use crate::store::Key;

/// How far up the chain a cycle check looks.
const CYCLE_SEARCH: usize = 256;

pub(crate) fn invite(cx: &mut Cx<'_, '_>, referrer: &ParticipantId, channel: &Channel) -> Result<(), Error> {
    cx.read_ahead([Some(Key::participant(cx.program.id(), referrer).into_key())])?;
    channel.check().map_err(|e| Refusal::InvalidEvent(e.into()))?;
    cx.require_open()?;
    let mut p = cx.require_enrolled(referrer)?;
    inc(&mut p.stats.invites);
    cx.save_participant(p)?;
    cx.count(|c| inc(&mut c.invites))?;
    cx.count_referrer_day(referrer, |d| inc(&mut d.invites))?;
    let trigger = Trigger::InviteSent { channel: channel.clone() };
    grant::reward(cx, &trigger, referrer, None)
}

pub(crate) fn sign_up(
    cx: &mut Cx<'_, '_>,
    referee: &ParticipantId,
    typed: &str,
    channel: &Channel,
    clicked_at: Option<DateTime<Utc>>,
    signals: &[Signal],
) -> Result<(), Error> {
    let p = cx.program.id();
    let code = ReferralCode::parse(typed);
    let code_key = code.as_ref().ok().map(|c| Key::code(p, c).into_key());
    cx.read_ahead([
        Some(Key::referral(p, referee).into_key()),
        Some(Key::participant(p, referee).into_key()),
        code_key,
    ])?;
    channel.check().map_err(|e| Refusal::InvalidEvent(e.into()))?;
    let code = code?;
    let record: CodeRecord =
        cx.tx.get(&Key::code(cx.program.id(), &code))?.ok_or_else(|| Refusal::UnknownCode(code.clone()))?;
    cx.require_open()?;
    let referrer = record.owner.clone();
    cx.read_ahead_referrer(&referrer)?;
    if &referrer == referee {
        return Err(Refusal::SelfReferral(referee.clone()).into());
    }
    if let (Some(clicked), Some(days)) = (clicked_at, cx.program.spec().attribution.window_days)
        && clicked < earlier(cx.now, Duration::days(i64::from(days)))
    {
        return Err(Refusal::AttributionWindowPassed { clicked_at: clicked, at: cx.now, window_days: days }.into());
    }
    if let CodeUse::SingleUse(Some(_)) = record.usage {
        return Err(Refusal::CodeAlreadyRedeemed(code).into());
    }
    // Only someone who has referred others can sit above the referrer.
    if cx.participant(referee)?.is_some_and(|p| p.stats.signups > 0) {
        check_cycle(cx, referee, &referrer)?;
    }
    // An attribution a later touch may replace (last touch), else none.
    let mut replaces = None;
    if let Some(existing) = cx.referral_of(referee)? {
        let last_touch = cx.program.spec().attribution.model == AttributionModel::LastTouch;
        if !(last_touch && existing.status == ReferralStatus::Attributed) || existing.referrer == referrer {
            return Err(Refusal::AlreadyReferred { referee: referee.clone() }.into());
        }
        replaces = Some(existing);
    }
    cx.known_participant(&referrer)?;

    // velocity: referrals per referrer per window
    let mut status = ReferralStatus::Attributed;
    if let Some(v) = cx.program.spec().limits.velocity {
        let since = earlier(cx.now, Duration::hours(i64::from(v.window_hours)));
        let now = cx.now;
        let over = cx.update_participant(&referrer, |r| {
            r.recent_referrals.retain(|t| *t > since);
            let over = r.recent_referrals.len() >= v.max as usize;
            if !over {
                r.recent_referrals.push(now);
            }
            Ok(over)
        })?;
        if over {
            status = ReferralStatus::Rejected(RejectReason::Velocity);
        }
    }

    // fraud rules on identity signals
    let mut flagged = None;
    if status == ReferralStatus::Attributed {
        match screen::screen(cx, referee, &referrer, signals)? {
            Screen::Pass => {}
            Screen::Reject(reason) => status = ReferralStatus::Rejected(reason),
            Screen::Flag(reason) => flagged = Some(reason),
        }
    }
    // Only a touch that is itself attributed replaces an attribution (a
    // flagged one is: it attributes, pending review). A rejected touch
    // leaves the attribution where it is.
    let mut paid_once = Vec::new();
    let replaced = replaces.is_some();
    if let Some(existing) = replaces.filter(|_| status == ReferralStatus::Attributed) {
        paid_once = supersede(cx, existing)?;
    }
    let referrer_p = cx.known_participant(&referrer)?;
    let mut referee_p =
        cx.participant(referee)?.unwrap_or_else(|| Participant::new(cx.program.id().clone(), referee.clone(), cx.now));
    screen::index_signals(cx, referee, signals, true)?;
    merge_signals(&mut referee_p.signals, signals);

    let id = ReferralId::from_uuid(cx.ids.next());
    let mut referral = Referral {
        id,
        program: cx.program.id().clone(),
        referrer: referrer.clone(),
        referee: referee.clone(),
        code: code.clone(),
        channel: channel.clone(),
        status: ReferralStatus::Attributed,
        attributed_at: cx.now,
        qualified_at: None,
        history: vec![Transition { to: ReferralStatus::Attributed, at: cx.now, event: cx.event.key.clone() }],
        purchases: 0,
        earned: vec![],
        in_review: flagged.clone(),
        paid_once,
        counts_for_referrer: false,
        qualified_purchases: 0,
        standing_referrer_rewards: 0,
    };
    if let CodeUse::SingleUse(None) = record.usage {
        let mut used = record;
        used.usage = CodeUse::SingleUse(Some(referee.clone()));
        cx.tx.put(Key::code(cx.program.id(), &code), used)?;
    }
    if let ReferralStatus::Rejected(reason) = status {
        let reason_name = reason.name();
        referral.transition(ReferralStatus::Rejected(reason.clone()), cx.now, &cx.event.key);
        cx.out.notices.push(Notice::ReferralRejected { referral: id, referrer: referrer.clone(), reason });
        cx.count(|c| c.count_rejected(reason_name))?;
        if cx.participant(referee)?.is_none() || !signals.is_empty() {
            cx.save_participant(referee_p)?;
        }
        if replaced {
            // The referee's slot keeps the attribution it holds; the
            // rejected touch is kept beside it, under its own id.
            cx.tx.put_new(Key::superseded(cx.program.id(), &id), referral.clone());
            cx.out.referrals.push(referral);
            return Ok(());
        }
        return cx.save_referral(referral);
    }
    let mut referrer_p = referrer_p;
    inc(&mut referrer_p.stats.signups);
    referee_p.referred_by = Some(referrer.clone());
    let referrer_variant = referrer_p.variant.clone();
    cx.save_participant(referrer_p)?;
    cx.save_participant(referee_p)?;
    let variant = referrer_variant.clone();
    cx.count(|c| c.count_signup(channel.tag(), variant.as_deref()))?;
    cx.out.notices.push(Notice::ReferralAttributed {
        referral: id,
        referrer: referrer.clone(),
        referee: referee.clone(),
    });
    if let Some(days) = cx.program.spec().qualification_window_days {
        let at = later(cx.now, Duration::days(i64::from(days)), "qualification_window_days")?;
        let due = Due::Expire { referral: id, referee: referee.clone() };
        cx.tx.put_new(Key::due(cx.program.id(), at, &id.to_string()), due);
    }
    cx.save_referral(referral.clone())?;
    if let Some(reason) = flagged {
        let item = ReviewItem {
            referral: id,
            referee: referee.clone(),
            referrer: referrer.clone(),
            reason: reason.clone(),
            flagged_at: cx.now,
            held: vec![],
        };
        cx.tx.put_new(Key::review(cx.program.id(), referee, &id), item);
        cx.out.notices.push(Notice::ReferralFlagged { referral: id, referrer: referrer.clone(), reason });
    }
    grant::reward(cx, &Trigger::SignedUp, referee, Some(referral))?;
    if cx.program.spec().qualification == Qualification::SignUp {
        qualify::qualify(cx, referee)?;
    }
    Ok(())
}

/// Ends an attribution that a later one replaces (last touch). What it
/// paid stays paid, and is carried over so that no rule that pays once
/// per referee pays again; rewards a review still held are reversed, as a
/// rejection would, and its review item goes. Returns what it carries.
pub(crate) fn supersede(cx: &mut Cx<'_, '_>, existing: Referral) -> Result<Vec<PaidOnce>, Error> {
    let (program, referee) = (cx.program.id().clone(), existing.referee.clone());
    let mut released = Vec::new();
    let review = Key::review(&program, &referee, &existing.id);
    if let Some(item) = cx.tx.get(&review)? {
        for id in &item.held {
            let Some(reward) = cx.tx.get(&Key::reward(&program, id))? else { continue };
            let left = reward.outstanding();
            if reward.status == RewardStatus::InReview && left > Decimal::ZERO {
                released.push(PaidOnce { rule: reward.rule.clone(), role: reward.role });
                let why = format!("superseded while in review: reverses {}", reward.explanation);
                ledger::reverse(cx, reward, left, &why)?;
            }
        }
        cx.tx.delete(review)?;
    }
    // Read again: the reversals updated its earnings.
    let mut existing = cx.referral_of(&referee)?.unwrap_or(existing);
    existing.in_review = None;
    existing.paid_once.retain(|p| !released.contains(p));
    cx.give_back(&mut existing)?;
    existing.transition(ReferralStatus::Rejected(RejectReason::Superseded), cx.now, &cx.event.key);
    cx.out.notices.push(Notice::ReferralRejected {
        referral: existing.id,
        referrer: existing.referrer.clone(),
        reason: RejectReason::Superseded,
    });
    cx.count(|c| c.count_rejected("superseded"))?;
    // The superseded referral keeps its history under its own id.
    cx.tx.put_new(Key::superseded(&program, &existing.id), existing.clone());
    let carried = existing.paid_once.clone();
    cx.out.referrals.retain(|o| o.id != existing.id);
    cx.out.referrals.push(existing);
    Ok(carried)
}

pub(crate) fn check_cycle(cx: &mut Cx<'_, '_>, referee: &ParticipantId, referrer: &ParticipantId) -> Result<(), Error> {
    let mut current = referrer.clone();
    for _ in 0..CYCLE_SEARCH {
        let Some(p) = cx.participant(&current)? else {
            return Ok(());
        };
        match p.referred_by {
            Some(up) if &up == referee => {
                return Err(Refusal::ReferralCycle { referee: referee.clone(), referrer: referrer.clone() }.into());
            }
            Some(up) => current = up,
            None => return Ok(()),
        }
    }
    Ok(())
}
