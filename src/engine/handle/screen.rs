//! Fraud screening on identity signals: what the program's rules make of a
//! sign-up's signals, and the index of who carries each signal.

use chrono::Duration;

use crate::domain::id::ParticipantId;
use crate::domain::referral::RejectReason;
use crate::engine::cx::*;
use crate::error::Error;
use crate::fraud::{Signal, Verdict};
use crate::store::Key;

/// The most participants a signal index lists.
const MAX_SIGNAL_HOLDERS: usize = 32;

/// What the fraud rules make of a sign-up.
pub(crate) enum Screen {
    Pass,
    Reject(RejectReason),
    Flag(String),
}

/// Adds hashed signals a participant does not hold yet.
pub(crate) fn merge_signals(held: &mut Vec<Signal>, new: &[Signal]) {
    for s in new {
        if !held.contains(s) {
            held.push(s.clone());
        }
    }
}

/// Applies the program's fraud rules to a referee's signals.
pub(crate) fn screen(
    cx: &mut Cx<'_, '_>,
    referee: &ParticipantId,
    referrer: &ParticipantId,
    signals: &[Signal],
) -> Result<Screen, Error> {
    let rules = cx.program.spec().fraud.clone();
    let mut flag = None;
    for s in signals {
        let index = cx.tx.get(&Key::signal(cx.program.id(), s))?.unwrap_or_default();
        let kind = s.kind.name();
        let mut found = Vec::new();
        if index.participants.iter().any(|p| p == referrer) {
            let verdict = if s.kind.is_weak() { rules.weak_match } else { rules.self_referral };
            found.push((verdict, RejectReason::SelfReferral, format!("{kind} shared with the referrer")));
        } else if index.participants.iter().any(|p| p != referee) {
            let verdict = if s.kind.is_weak() { rules.weak_match } else { rules.duplicate_account };
            found.push((verdict, RejectReason::DuplicateAccount, format!("{kind} shared with another participant")));
        }
        for v in rules.signal_velocity.iter().filter(|v| v.kind == s.kind) {
            let since = earlier(cx.now, Duration::hours(i64::from(v.window_hours)));
            let recent = index.recent.iter().filter(|t| **t > since).count();
            if recent >= v.max as usize {
                found.push((
                    v.verdict,
                    RejectReason::SignalVelocity,
                    format!("{recent} sign-ups on one {kind} in {}h", v.window_hours),
                ));
            }
        }
        for (verdict, reason, words) in found {
            match verdict {
                Verdict::Reject => return Ok(Screen::Reject(reason)),
                _ => flag = flag.or(Some(words)),
            }
        }
    }
    Ok(flag.map_or(Screen::Pass, Screen::Flag))
}

/// Records who carries each signal, and when sign-ups carried it: at most
/// as many times as a velocity rule on its kind looks at, within the
/// longest such rule's window, so that the record stays small.
pub(crate) fn index_signals(
    cx: &mut Cx<'_, '_>,
    who: &ParticipantId,
    signals: &[Signal],
    signup: bool,
) -> Result<(), Error> {
    let rules = &cx.program.spec().fraud.signal_velocity;
    for s in signals {
        let of_kind = || rules.iter().filter(|v| v.kind == s.kind);
        let keep = of_kind().map(|v| v.window_hours).max().unwrap_or(0);
        let most = of_kind().map(|v| v.max as usize).max().unwrap_or(0);
        let key = Key::signal(cx.program.id(), s);
        let mut index = cx.tx.get(&key)?.unwrap_or_default();
        if !index.participants.contains(who) && index.participants.len() < MAX_SIGNAL_HOLDERS {
            index.participants.push(who.clone());
        }
        if signup && keep > 0 {
            let since = earlier(cx.now, Duration::hours(i64::from(keep)));
            index.recent.retain(|t| *t > since);
            index.recent.push(cx.now);
            let excess = index.recent.len().saturating_sub(most);
            index.recent.drain(..excess);
        }
        cx.tx.put(key, index)?;
    }
    Ok(())
}
