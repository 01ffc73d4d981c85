//! The handlers, one file per family of events. Each is a function over the
//! event's [`Cx`]; [`run`] picks one by the event's kind.

pub(crate) mod account;
pub(crate) mod enroll;
pub(crate) mod orders;
pub(crate) mod outbox;
pub(crate) mod qualify;
pub(crate) mod review;
pub(crate) mod screen;
pub(crate) mod sign_up;
pub(crate) mod time;

use crate::engine::cx::*;
use crate::error::Error;
use crate::event::EventKind;

pub(crate) fn run(cx: &mut Cx<'_, '_>) -> Result<(), Error> {
    cx.prefetch()?;
    let kind = &cx.event.kind;
    match kind {
        EventKind::Enroll { participant, segment, attributes, vanity_code, signals } => {
            enroll::enroll(cx, participant, segment.as_deref(), attributes, vanity_code.as_deref(), signals)
        }
        EventKind::IssueCode { participant, vanity_code } => {
            enroll::issue_code(cx, participant, vanity_code.as_deref()).map(drop)
        }
        EventKind::IssuePartnerCodes { partner, count } => enroll::issue_partner_codes(cx, partner, *count),
        EventKind::InviteSent { referrer, channel } => sign_up::invite(cx, referrer, channel),
        EventKind::SignUp { referee, code, channel, clicked_at, signals } => {
            sign_up::sign_up(cx, referee, code, channel, *clicked_at, signals)
        }
        EventKind::Approve { referee } => review::review(cx, referee, None),
        EventKind::Reject { referee, reason } => review::review(cx, referee, Some(reason)),
        EventKind::Purchase { customer, order, amount, coupon } => {
            orders::purchase(cx, customer, order, amount, coupon.as_deref())
        }
        EventKind::Refund { order, amount } => orders::refund(cx, order, amount, "refund"),
        EventKind::Chargeback { order, amount } => orders::refund(cx, order, amount, "chargeback"),
        EventKind::Action { participant, name } => qualify::action(cx, participant, name),
        EventKind::Tick => time::tick(cx),
        EventKind::Suspend { participant } => account::set_suspended(cx, participant, true),
        EventKind::Reinstate { participant } => account::set_suspended(cx, participant, false),
        EventKind::Redeem { participant, item } => account::redeem(cx, participant, item),
        EventKind::Payout { payout, asset, minimum } => account::payout(cx, payout, asset, *minimum),
        EventKind::Acknowledge { notifications } => outbox::acknowledge(cx, notifications),
    }
}
