//! One referral walked through every lifecycle state on MemoryStore, checking
//! the referral, the ledger and every balance at each step.

mod common;
use common::*;
use referral_engine::EventKind;
use referral_engine::domain::ledger::{Bucket, EntryKind, RewardStatus};
use referral_engine::domain::referral::{ReferralStatus, RejectReason};

const PROGRAM: &str = r#"{
    "id": "life", "name": "Lifecycle", "currency": "USD",
    "qualification": {"first_purchase": {"minimum": "20.00"}},
    "qualification_window_days": 30,
    "hold_days": 14,
    "limits": {"velocity": {"max": 3, "window_hours": 24}},
    "policies": [{"type": "two_sided", "name": "bounty",
        "referrer": {"on": "qualified", "reward": {"fixed": "25.00 USD"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "10.00 USD"}}}]
}"#;

fn statuses(w: &World, referee: &str) -> Vec<ReferralStatus> {
    let r = w.engine.read(&w.program).referral(&pid(referee)).unwrap().unwrap();
    r.history.iter().map(|t| t.to.clone()).collect()
}

#[test]
fn attributed_qualified_rewarded_available_then_reversed() {
    let w = World::new(program(PROGRAM));
    let code = w.enroll("alice");

    // Attributed: no money moves yet.
    w.sign_up("bob", &code).unwrap();
    assert_eq!(statuses(&w, "bob"), vec![ReferralStatus::Attributed]);
    assert_eq!(w.buckets("alice", "USD"), (dec("0"), dec("0"), dec("0")));
    assert!(w.engine.read(&w.program).statement(&pid("alice")).all().unwrap().is_empty());

    // A purchase under the minimum does not qualify.
    w.purchase("bob", "o-1", "19.99 USD").unwrap();
    assert_eq!(statuses(&w, "bob"), vec![ReferralStatus::Attributed]);

    // Qualified and rewarded by the first purchase at the minimum; both rewards held 14 days.
    w.advance(1);
    let out = w.purchase("bob", "o-2", "20.00 USD").unwrap();
    assert_eq!(
        statuses(&w, "bob"),
        vec![ReferralStatus::Attributed, ReferralStatus::Qualified, ReferralStatus::Rewarded]
    );
    assert_eq!(out.rewards.len(), 2);
    assert!(out.rewards.iter().all(|r| matches!(r.status, RewardStatus::Pending(_))));
    assert_eq!(w.buckets("alice", "USD"), (dec("25.00"), dec("0"), dec("0")));
    assert_eq!(w.buckets("bob", "USD"), (dec("10.00"), dec("0"), dec("0")));
    let alice = w.engine.read(&w.program).statement(&pid("alice")).all().unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].kind, EntryKind::Grant);
    assert_eq!(alice[0].bucket, Bucket::Pending);
    assert!(alice[0].explanation.contains("25.00 USD to the referrer"), "{}", alice[0].explanation);

    // A tick before the hold ends releases nothing.
    w.advance(13);
    assert!(w.tick().entries.is_empty());
    assert_eq!(w.buckets("alice", "USD"), (dec("25.00"), dec("0"), dec("0")));

    // Available when the hold ends; a second tick is a no-op.
    w.advance(1);
    let released = w.tick();
    assert_eq!(released.entries.len(), 4);
    assert_eq!(w.buckets("alice", "USD"), (dec("0.00"), dec("25.00"), dec("0")));
    assert_eq!(w.buckets("bob", "USD"), (dec("0.00"), dec("10.00"), dec("0")));
    assert!(w.tick().entries.is_empty());

    // Reversed: the qualifying order is refunded in full.
    w.refund("o-2", "20.00 USD").unwrap();
    assert_eq!(
        statuses(&w, "bob"),
        vec![ReferralStatus::Attributed, ReferralStatus::Qualified, ReferralStatus::Rewarded, ReferralStatus::Reversed]
    );
    assert_eq!(w.buckets("alice", "USD"), (dec("0.00"), dec("0.00"), dec("0")));
    assert_eq!(w.buckets("bob", "USD"), (dec("0.00"), dec("0.00"), dec("0")));
    let alice = w.engine.read(&w.program).statement(&pid("alice")).all().unwrap();
    let kinds: Vec<_> = alice.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, vec![EntryKind::Grant, EntryKind::Release, EntryKind::Release, EntryKind::Reversal]);
    let sum: rust_decimal::Decimal = alice.iter().map(|e| e.value.amount()).sum();
    assert_eq!(sum, dec("0"));
}

#[test]
fn a_referral_that_does_not_qualify_in_time_expires_and_earns_nothing() {
    let w = World::new(program(PROGRAM));
    let code = w.enroll("alice");
    w.sign_up("carl", &code).unwrap();
    w.advance(29);
    assert!(w.tick().referrals.is_empty());
    w.advance(1);
    let out = w.tick();
    assert_eq!(out.referrals.len(), 1);
    assert_eq!(statuses(&w, "carl"), vec![ReferralStatus::Attributed, ReferralStatus::Expired]);
    w.purchase("carl", "o-9", "50.00 USD").unwrap();
    assert_eq!(w.buckets("alice", "USD"), (dec("0"), dec("0"), dec("0")));
    assert_eq!(w.engine.read(&w.program).totals().unwrap().expired, 1);
}

#[test]
fn a_referral_over_the_velocity_limit_is_rejected_with_its_reason() {
    let w = World::new(program(PROGRAM));
    let code = w.enroll("alice");
    for friend in ["f1", "f2", "f3"] {
        w.sign_up(friend, &code).unwrap();
    }
    w.sign_up("f4", &code).unwrap();
    assert_eq!(statuses(&w, "f4"), vec![ReferralStatus::Attributed, ReferralStatus::Rejected(RejectReason::Velocity)]);
    w.purchase("f4", "o-4", "30.00 USD").unwrap();
    assert_eq!(w.buckets("alice", "USD"), (dec("0"), dec("0"), dec("0")));
    // The window slides: a day later the referrer may refer again.
    w.advance(1);
    w.sign_up("f5", &code).unwrap();
    assert_eq!(statuses(&w, "f5"), vec![ReferralStatus::Attributed]);
    let _ = w.ok(EventKind::Tick);
}
