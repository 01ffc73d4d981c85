//! Enrollment: a participant joins as a referrer and gets codes (their own,
//! a vanity one, or a partner's batch of single-use codes).

use super::screen;
use crate::domain::code::ReferralCode;
use crate::domain::code::{CodeRecord, CodeUse};
use crate::domain::id::ParticipantId;
use crate::domain::participant::{Attributes, Participant};
use crate::engine::cx::*;
use crate::engine::handle::screen::merge_signals;
use crate::error::{Error, Refusal};
use crate::event::Notice;
use crate::fraud::Signal;
use crate::store::Key;

/// The most partner codes one event issues.
pub const MAX_PARTNER_CODES: u32 = 10_000;
/// How many codes a decision draws before it gives up on the random source.
const CODE_DRAWS: u32 = 32;

pub(crate) fn new_code(
    cx: &mut Cx<'_, '_>,
    owner: &ParticipantId,
    vanity: Option<&str>,
    usage: CodeUse,
) -> Result<ReferralCode, Error> {
    let code = match vanity {
        Some(v) => {
            let code = ReferralCode::parse(v)?;
            if cx.tx.get(&Key::code(cx.program.id(), &code))?.is_some() {
                return Err(Refusal::CodeTaken(code).into());
            }
            code
        }
        None => {
            // A sound random source repeats a 50-bit code about never; one
            // that keeps repeating is broken, and is refused, not looped on.
            let mut fresh = None;
            for _ in 0..CODE_DRAWS {
                let code = ReferralCode::generate(cx.random);
                if cx.tx.get(&Key::code(cx.program.id(), &code))?.is_none() {
                    fresh = Some(code);
                    break;
                }
            }
            fresh.ok_or(Error::NoFreshCode(CODE_DRAWS))?
        }
    };
    let record = CodeRecord {
        code: code.clone(),
        program: cx.program.id().clone(),
        owner: owner.clone(),
        usage,
        issued_at: cx.now,
    };
    cx.tx.put(Key::code(cx.program.id(), &code), record)?;
    cx.out.codes.push(code.clone());
    cx.out.notices.push(Notice::CodeIssued { participant: owner.clone(), code: code.clone() });
    Ok(code)
}

pub(crate) fn enroll(
    cx: &mut Cx<'_, '_>,
    id: &ParticipantId,
    segment: Option<&str>,
    attributes: &Attributes,
    vanity: Option<&str>,
    signals: &[Signal],
) -> Result<(), Error> {
    cx.read_ahead([Some(Key::participant(cx.program.id(), id).into_key())])?;
    cx.require_open()?;
    let mut p = match cx.participant(id)? {
        Some(p) if p.enrolled_at.is_some() => {
            return Err(Refusal::DuplicateEnrollment(id.clone()).into());
        }
        Some(p) => p,
        None => Participant::new(cx.program.id().clone(), id.clone(), cx.now),
    };
    if let Some(rule) = &cx.program.spec().enrollment
        && !rule.matches(attributes)
    {
        return Err(Refusal::NotEligible(id.clone()).into());
    }
    if let Some(s) = segment
        && !crate::domain::id::is_name(s)
    {
        return Err(Refusal::InvalidEvent(format!("segment {s:?} is not 1 to 64 printable characters")).into());
    }
    p.enrolled_at = Some(cx.now);
    p.segment = segment.map(str::to_owned);
    p.variant = cx.program.assign_variant(id).map(str::to_owned);
    let variant = p.variant.clone();
    cx.count(|c| c.count_enrolled(variant.as_deref()))?;
    p.attributes = attributes.clone();
    screen::index_signals(cx, id, signals, false)?;
    merge_signals(&mut p.signals, signals);
    let code = new_code(cx, id, vanity, CodeUse::Reusable)?;
    p.codes.push(code);
    cx.save_participant(p)?;
    cx.out.notices.push(Notice::Enrolled { participant: id.clone() });
    Ok(())
}

pub(crate) fn issue_code(cx: &mut Cx<'_, '_>, id: &ParticipantId, vanity: Option<&str>) -> Result<ReferralCode, Error> {
    cx.require_open()?;
    let mut p = cx.require_enrolled(id)?;
    let code = new_code(cx, id, vanity, CodeUse::Reusable)?;
    p.codes.push(code.clone());
    cx.save_participant(p)?;
    Ok(code)
}

pub(crate) fn issue_partner_codes(cx: &mut Cx<'_, '_>, partner: &ParticipantId, count: u32) -> Result<(), Error> {
    cx.require_open()?;
    if count == 0 || count > MAX_PARTNER_CODES {
        return Err(
            Refusal::InvalidEvent(format!("partner code count {count} is not in 1..={MAX_PARTNER_CODES}")).into()
        );
    }
    cx.require_enrolled(partner)?;
    for _ in 0..count {
        new_code(cx, partner, None, CodeUse::SingleUse(None))?;
    }
    Ok(())
}
