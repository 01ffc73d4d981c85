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
    let kind = &cx.event.kind;
    match kind {
        EventKind::Enroll(e) => enroll::enroll(
            cx,
            &e.participant,
            e.segment.as_deref(),
            &e.attributes,
            e.vanity_code.as_deref(),
            &e.signals,
        ),
        EventKind::IssueCode(e) => enroll::issue_code(cx, &e.participant, e.vanity_code.as_deref()).map(drop),
        EventKind::IssuePartnerCodes(e) => enroll::issue_partner_codes(cx, &e.partner, e.count),
        EventKind::InviteSent(e) => sign_up::invite(cx, &e.referrer, &e.channel),
        EventKind::SignUp(e) => sign_up::sign_up(cx, &e.referee, &e.code, &e.channel, e.clicked_at, &e.signals),
        EventKind::Approve(e) => review::review(cx, &e.referee, None),
        EventKind::Reject(e) => review::review(cx, &e.referee, Some(&e.reason)),
        EventKind::Purchase(e) => orders::purchase(cx, &e.customer, &e.order, &e.amount, e.coupon.as_deref()),
        EventKind::Refund(e) => orders::refund(cx, &e.order, &e.amount, "refund"),
        EventKind::Chargeback(e) => orders::refund(cx, &e.order, &e.amount, "chargeback"),
        EventKind::Action(e) => qualify::action(cx, &e.participant, &e.name),
        EventKind::Tick => time::tick(cx),
        EventKind::Suspend(e) => account::set_suspended(cx, &e.participant, true),
        EventKind::Reinstate(e) => account::set_suspended(cx, &e.participant, false),
        EventKind::Redeem(e) => account::redeem(cx, &e.participant, &e.item),
        EventKind::Payout(e) => account::payout(cx, &e.payout, &e.asset, e.minimum),
        EventKind::Acknowledge(e) => outbox::acknowledge(cx, &e.notifications),
    }
}
