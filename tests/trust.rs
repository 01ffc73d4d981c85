//! Trust and safety: fraud rules (each with a caught case and a near miss),
//! the review queue, clawbacks through a chain, payouts, the audit trail, and
//! that no raw identity signal is ever stored.

mod common;
use chrono::Duration;
use common::*;
use referral_engine::Refusal;
use referral_engine::domain::code::SeededRandom;
use referral_engine::domain::ledger::RewardStatus;
use referral_engine::domain::referral::{ReferralStatus, RejectReason};
use referral_engine::event::{Acknowledge, Approve, Chargeback, Enroll, Payout, Reject, SignUp};
use referral_engine::fraud::{Signal, SignalKey, SignalKind};
use referral_engine::{Engine, Error, Event, EventKind, ManualClock, MemoryStore, Notice};

const PROGRAM: &str = r#"{
    "id": "safe", "name": "Safe", "currency": "USD",
    "qualification_window_days": 30,
    "fraud": {"signal_velocity": [{"kind": "ip", "max": 2, "window_hours": 24, "verdict": "reject"}]},
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]
}"#;

fn world() -> World {
    let clock = ManualClock::new(t0());
    let program = program(PROGRAM);
    let id = program.id().clone();
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(5))
        .with_signal_key(SignalKey::new(*b"host-secret-0123456789").unwrap())
        .with_program(program);
    World::from_parts(engine, clock, id)
}

fn enroll_with(w: &World, who: &str, signals: Vec<Signal>) -> String {
    let out = w.ok(Enroll::new(pid(who)).with_signals(signals).into());
    out.codes[0].to_string()
}

fn sign_up_with(w: &World, referee: &str, code: &str, signals: Vec<Signal>) -> referral_engine::Outcome {
    w.ok(SignUp::new(pid(referee), code).with_signals(signals).into())
}

fn status(w: &World, referee: &str) -> ReferralStatus {
    w.engine.read(&w.program).referral(&pid(referee)).unwrap().unwrap().status
}

#[test]
fn self_referral_by_signal_is_rejected_after_normalization() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![Signal::email("ann.smith@gmail.com")]);
    // Caught: the same Gmail address with dots moved and a +tag.
    sign_up_with(&w, "ann-2", &code, vec![Signal::email("AnnSmith+promo@googlemail.com")]);
    assert_eq!(status(&w, "ann-2"), ReferralStatus::Rejected(RejectReason::SelfReferral));
    assert_eq!(w.balance("ann", "USD").available, dec("0"));
    // Near miss: a different person at another provider, where dots matter.
    sign_up_with(&w, "bo", &code, vec![Signal::email("ann.smith@example.com")]);
    assert_eq!(status(&w, "bo"), ReferralStatus::Rewarded);
}

#[test]
fn duplicate_accounts_are_caught_by_a_shared_strong_signal() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![]);
    sign_up_with(&w, "cy", &code, vec![Signal::raw(SignalKind::Phone, "+1 555 010 9999")]);
    assert_eq!(status(&w, "cy"), ReferralStatus::Rewarded);
    // Caught: a second account on the same phone, written differently.
    sign_up_with(&w, "cy-again", &code, vec![Signal::raw(SignalKind::Phone, "1-555-010-9999")]);
    assert_eq!(status(&w, "cy-again"), ReferralStatus::Rejected(RejectReason::DuplicateAccount));
    // Near miss: one digit differs.
    sign_up_with(&w, "dee", &code, vec![Signal::raw(SignalKind::Phone, "+1 555 010 9998")]);
    assert_eq!(status(&w, "dee"), ReferralStatus::Rewarded);
    assert_eq!(w.balance("ann", "USD").available, dec("20.00"));
}

#[test]
fn a_shared_office_ip_flags_for_review_and_approval_releases() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![]);
    sign_up_with(&w, "eve", &code, vec![Signal::ip("203.0.113.7")]);
    // Caught (weak): a colleague behind the same office IP is flagged, not rejected.
    let out = sign_up_with(&w, "fay", &code, vec![Signal::ip("203.0.113.7")]);
    assert!(out.notices.iter().any(|n| matches!(n, Notice::ReferralFlagged { .. })));
    assert_eq!(status(&w, "fay"), ReferralStatus::Rewarded);
    let queue = w.engine.read(&w.program).review_queue().all().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].reason, "ip shared with another participant");
    // Its rewards stay unavailable until approved.
    assert!(out.rewards.iter().all(|r| r.status == RewardStatus::InReview));
    assert_eq!(w.buckets("fay", "USD"), (dec("5.00"), dec("0"), dec("0")));
    w.ok(Approve::new(pid("fay")).into());
    assert_eq!(w.buckets("fay", "USD"), (dec("0.00"), dec("5.00"), dec("0")));
    assert!(w.engine.read(&w.program).review_queue().all().unwrap().is_empty());
    // Near miss: another IP is not flagged.
    let out = sign_up_with(&w, "gus", &code, vec![Signal::ip("198.51.100.1")]);
    assert!(!out.notices.iter().any(|n| matches!(n, Notice::ReferralFlagged { .. })));
    // Approving what is not in review is an error that writes nothing.
    assert!(matches!(w.send(Approve::new(pid("gus")).into()), Err(Error::Refused(Refusal::NotInReview(_)))));
}

#[test]
fn a_rejected_review_reverses_the_held_rewards() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![]);
    sign_up_with(&w, "eve", &code, vec![Signal::ip("203.0.113.7")]);
    sign_up_with(&w, "fay", &code, vec![Signal::ip("203.0.113.7")]);
    assert_eq!(w.buckets("ann", "USD"), (dec("10.00"), dec("10.00"), dec("0")));
    w.ok(Reject::new(pid("fay"), "same household, no new customer").into());
    assert_eq!(
        status(&w, "fay"),
        ReferralStatus::Rejected(RejectReason::Review("same household, no new customer".into()))
    );
    assert_eq!(w.buckets("ann", "USD"), (dec("0.00"), dec("10.00"), dec("0")));
    assert_eq!(w.buckets("fay", "USD"), (dec("0.00"), dec("0"), dec("0")));
}

#[test]
fn too_many_sign_ups_on_one_ip_are_refused_until_the_window_passes() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![]);
    let ip = || vec![Signal::ip("198.51.100.9")];
    sign_up_with(&w, "v0", &code, ip());
    sign_up_with(&w, "v1", &code, ip()); // a shared IP: flagged, not refused
    assert_eq!(w.engine.read(&w.program).review_queue().all().unwrap().len(), 1);
    // Caught: the third sign-up from one IP within 24 hours.
    sign_up_with(&w, "v2", &code, ip());
    assert_eq!(status(&w, "v2"), ReferralStatus::Rejected(RejectReason::SignalVelocity));
    // Near miss: a day later the window has passed; the shared IP only flags.
    w.advance(1);
    sign_up_with(&w, "v3", &code, ip());
    assert_eq!(status(&w, "v3"), ReferralStatus::Rewarded);
    assert_eq!(w.engine.read(&w.program).review_queue().all().unwrap().len(), 2);
    let totals = w.engine.read(&w.program).totals().unwrap();
    assert_eq!(totals.rejected.get("signal_velocity"), Some(&1));
}

#[test]
fn no_raw_email_phone_or_ip_is_ever_stored() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![Signal::email("ann.private@example.org"), Signal::ip("192.0.2.55")]);
    sign_up_with(
        &w,
        "bob",
        &code,
        vec![
            Signal::email("bob.secret@example.net"),
            Signal::raw(SignalKind::Phone, "+44 20 7946 0958"),
            Signal::ip("198.51.100.23"),
        ],
    );
    let (records, events) = w.engine.store().dump();
    let mut everything = String::new();
    for (key, v) in &records {
        everything.push_str(key.as_str());
        everything.push_str(&serde_json::to_string(v.record.as_ref()).unwrap());
    }
    everything.push_str(&serde_json::to_string(&events).unwrap());
    for raw in ["ann.private", "example.org", "192.0.2.55", "bob.secret", "example.net", "7946", "198.51.100.23"] {
        assert!(!everything.contains(raw), "{raw} was stored");
    }
    assert!(everything.contains("\"hashed\""));
    // Without a key, signals are refused, not stored raw.
    let bare = World::new(program(PROGRAM));
    let err = bare.send(Enroll::new(pid("x")).with_signals(vec![Signal::email("x@example.com")]).into());
    assert!(matches!(err, Err(Error::Refused(Refusal::InvalidSignal { .. }))));
}

const CHAIN: &str = r#"{
    "id": "chain", "name": "Chain", "currency": "USD",
    "qualification": {"first_purchase": {}},
    "policies": [
        {"type": "revenue_share", "name": "share", "percent": "10"},
        {"type": "multi_level", "name": "up", "on": "every_purchase",
         "levels": [{"level": 2, "reward": {"percent": "3.33"}}, {"level": 3, "reward": {"percent": "1.11"}}]}
    ]
}"#;

/// a <- b <- c <- d, every one's balances in USD.
fn chain() -> World {
    let w = World::new(program(CHAIN));
    let a = w.enroll("a");
    w.sign_up("b", &a).unwrap();
    let b = w.enroll("b");
    w.sign_up("c", &b).unwrap();
    let c = w.enroll("c");
    w.sign_up("d", &c).unwrap();
    w.purchase("d", "first", "10.00 USD").unwrap();
    w
}

fn all_balances(w: &World) -> Vec<(rust_decimal::Decimal, rust_decimal::Decimal, rust_decimal::Decimal)> {
    ["a", "b", "c", "d"].iter().map(|p| w.buckets(p, "USD")).collect()
}

#[test]
fn a_three_level_chain_refunded_in_three_parts_returns_every_balance() {
    let w = chain();
    let before = all_balances(&w);
    let out = w.purchase("d", "big", "99.99 USD").unwrap();
    assert_eq!(out.rewards.len(), 3, "c, b and a all earn");
    assert_ne!(all_balances(&w), before);
    w.refund("big", "33.33 USD").unwrap();
    w.refund("big", "33.33 USD").unwrap();
    w.refund("big", "33.33 USD").unwrap();
    assert_eq!(all_balances(&w), before);
}

#[test]
fn a_three_level_chain_charged_back_at_once_returns_every_balance() {
    let w = chain();
    let before = all_balances(&w);
    w.purchase("d", "big", "99.99 USD").unwrap();
    w.ok(Chargeback::new("big".parse().unwrap(), value("99.99 USD")).into());
    assert_eq!(all_balances(&w), before);
}

#[test]
fn a_paid_then_refunded_reward_leaves_a_negative_balance_that_the_next_reward_pays_down() {
    let w = chain();
    w.purchase("d", "o2", "200.00 USD").unwrap(); // c earns 20.00
    assert_eq!(w.buckets("c", "USD").1, dec("21.00"));
    w.ok(Payout::new("june".parse().unwrap(), asset("USD")).at_least(dec("5")).into());
    assert_eq!(w.buckets("c", "USD"), (dec("0"), dec("0.00"), dec("21.00")));
    w.refund("o2", "200.00 USD").unwrap();
    assert_eq!(w.buckets("c", "USD"), (dec("0"), dec("-20.00"), dec("21.00")));
    w.purchase("d", "o3", "300.00 USD").unwrap(); // c earns 30.00
    assert_eq!(w.buckets("c", "USD").1, dec("10.00"));
    // Payouts honour the minimum and the batch id.
    w.ok(Payout::new("july".parse().unwrap(), asset("USD")).at_least(dec("50")).into());
    assert_eq!(w.buckets("c", "USD").1, dec("10.00"));
    let again = w.send(Payout::new("july".parse().unwrap(), asset("USD")).into());
    assert!(matches!(again, Err(Error::Refused(Refusal::DuplicatePayout(_)))));
    let statement = w.engine.read(&w.program).statement(&pid("c")).all().unwrap();
    assert!(statement.iter().all(|e| !e.explanation.is_empty()));
}

#[test]
fn stale_referrals_are_listed_for_follow_up_and_expire() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![]);
    let json = PROGRAM.replace(
        r#""qualification_window_days": 30,"#,
        r#""qualification_window_days": 30, "qualification": {"first_purchase": {}},"#,
    );
    let w2 = World::new(program(&json));
    let c2 = w2.enroll("ann");
    w2.sign_up("slow", &c2).unwrap();
    w2.advance(10);
    w2.sign_up("fresh", &c2).unwrap();
    let stale = w2.engine.read(&w2.program).stale_referrals(Duration::days(7)).unwrap().all().unwrap();
    assert_eq!(stale.iter().map(|r| r.referee.as_str()).collect::<Vec<_>>(), vec!["slow"]);
    w2.advance(21);
    w2.tick();
    assert_eq!(w2.engine.read(&w2.program).referral(&pid("slow")).unwrap().unwrap().status, ReferralStatus::Expired);
    let _ = (code, w);
}

#[test]
fn the_audit_trail_records_rejections_flags_approvals_reversals_and_payouts() {
    let w = world();
    let code = enroll_with(&w, "ann", vec![Signal::email("ann@example.com")]);
    sign_up_with(&w, "ann2", &code, vec![Signal::email("ann@example.com")]);
    sign_up_with(&w, "eve", &code, vec![Signal::ip("203.0.113.7")]);
    sign_up_with(&w, "fay", &code, vec![Signal::ip("203.0.113.7")]);
    w.ok(Approve::new(pid("fay")).into());
    w.ok(Payout::new("p1".parse().unwrap(), asset("USD")).into());
    let trail = w.engine.read(&w.program).audit(usize::MAX).unwrap();
    let has = |f: &dyn Fn(&Notice) -> bool| trail.iter().any(|a| f(&a.notice));
    assert!(has(&|n| matches!(n, Notice::ReferralRejected { reason: RejectReason::SelfReferral, .. })));
    assert!(has(&|n| matches!(n, Notice::ReferralFlagged { .. })));
    assert!(has(&|n| matches!(n, Notice::ReferralApproved { .. })));
    assert!(has(&|n| matches!(n, Notice::PaidOut { .. })));
    assert!(trail.iter().all(|a| a.at == t0()));
    // The audit trail stays when the outbox is acknowledged.
    let ids: Vec<_> = w.engine.read(&w.program).notifications(usize::MAX).unwrap().into_iter().map(|n| n.id).collect();
    w.ok(Acknowledge::new(ids).into());
    assert_eq!(w.engine.read(&w.program).audit(usize::MAX).unwrap(), trail);
    let _ = Event::new("k", "safe", EventKind::Tick).unwrap();
}
