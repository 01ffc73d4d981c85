//! The outbox and the audit trail: an event's notices, written in its own
//! commit, and their acknowledgement.

use crate::engine::cx::*;
use crate::error::Error;
use crate::event::Notice;
use crate::event::{AuditEntry, NotificationId, OutboxEntry};
use crate::store::Key;

/// Whether a notice belongs in the audit trail: rejections, flags,
/// approvals, expiries, reversals, withheld grants and payouts.
fn is_audited(notice: &Notice) -> bool {
    matches!(
        notice,
        Notice::ReferralRejected { .. }
            | Notice::ReferralFlagged { .. }
            | Notice::ReferralApproved { .. }
            | Notice::ReferralExpired { .. }
            | Notice::ReferralReversed { .. }
            | Notice::RewardReversed { .. }
            | Notice::RewardWithheld { .. }
            | Notice::RewardCut { .. }
            | Notice::PaidOut { .. }
            | Notice::Suspended { .. }
            | Notice::Reinstated { .. }
    )
}

/// Writes this event's notices to the outbox (one record) and the audited
/// ones to the trail, in the same commit, under ids made of the time, the
/// event's key and the notice's index.
pub(crate) fn publish(cx: &mut Cx<'_, '_>, outbox: bool) -> Result<(), Error> {
    let (program, event, now) = (cx.program.id(), &cx.event.key, cx.now);
    let numbered = || cx.out.notices.iter().enumerate().map(|(i, n)| (u32::try_from(i).unwrap_or(u32::MAX), n));
    for (index, notice) in numbered().filter(|(_, n)| is_audited(n)) {
        let id = NotificationId { at: now, event: event.clone(), index };
        let entry = AuditEntry { at: now, event: event.clone(), notice: notice.clone() };
        cx.tx.put_new(Key::audit(program, &id), entry);
    }
    if outbox && !cx.out.notices.is_empty() {
        // Collected from an exact-size iterator: no spare capacity kept.
        let pending = numbered().map(|(i, n)| (i, n.clone())).collect();
        let entry = OutboxEntry { at: now, event: event.clone(), pending };
        cx.tx.put_new(Key::outbox(program, now, event), entry);
    }
    Ok(())
}

/// Takes the named notifications out of the outbox; an event's record
/// goes when none of its notices is left. Unknown ids are ignored (a
/// retried acknowledgement changes nothing).
pub(crate) fn acknowledge(cx: &mut Cx<'_, '_>, ids: &[NotificationId]) -> Result<(), Error> {
    for id in ids {
        let key = Key::outbox(cx.program.id(), id.at, &id.event);
        let Some(mut entry) = cx.tx.get(&key)? else { continue };
        let before = entry.pending.len();
        entry.pending.retain(|(index, _)| *index != id.index);
        if entry.pending.is_empty() {
            cx.tx.delete(key)?;
        } else if entry.pending.len() < before {
            cx.tx.put(key, entry)?;
        }
    }
    Ok(())
}
