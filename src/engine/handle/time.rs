//! Time: a tick releases holds that have ended and expires referrals whose
//! qualification window has passed.

use super::qualify;
use crate::domain::due::Due;
use crate::domain::referral::ReferralStatus;
use crate::engine::cx::*;
use crate::engine::ledger;
use crate::error::Error;
use crate::store::Key;

/// The most due items one tick handles; the rest wait for the next tick.
pub const TICK_BATCH: usize = 10_000;

pub(crate) fn tick(cx: &mut Cx<'_, '_>) -> Result<(), Error> {
    let due = cx.tx.scan(&Key::due_until(cx.program.id(), cx.now), TICK_BATCH)?;
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
