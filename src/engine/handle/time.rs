//! Time: a tick releases holds that have ended and expires referrals whose
//! qualification window has passed.

use super::qualify;
use crate::domain::due::Due;
use crate::domain::referral::ReferralStatus;
use crate::engine::cx::*;
use crate::engine::ledger;
use crate::error::Error;
use crate::event::Notice;
use crate::store::Key;

/// The most due items one tick handles, oldest first; when more are due,
/// the tick says so ([`Notice::TickContinues`]) and the next tick goes on.
/// It bounds a tick's commit (each item reads and writes a few records),
/// whatever the program's history.
pub const TICK_BATCH: usize = 500;

pub(crate) fn tick(cx: &mut Cx<'_, '_>) -> Result<(), Error> {
    let mut due = cx.tx.scan(&Key::due_until(cx.program.id(), cx.now), TICK_BATCH.saturating_add(1))?;
    if due.len() > TICK_BATCH {
        due.truncate(TICK_BATCH);
        cx.out.notices.push(Notice::TickContinues);
    }
    for (key, item) in due {
        match item {
            Due::Release(id) => ledger::release(cx, &id)?,
            Due::Expire { referral, referee } => {
                // Only the referral it was written for: a later attribution
                // of the same referee has its own window.
                if let Some(r) =
                    cx.referral_of(&referee)?.filter(|r| r.id == referral && r.status == ReferralStatus::Attributed)
                {
                    qualify::expire(cx, r)?;
                }
            }
        }
        cx.tx.delete(key)?;
    }
    Ok(())
}
