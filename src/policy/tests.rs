//! The built-in policies' arithmetic at its boundaries: band edges, caps
//! reached exactly and overshot, zero, the smallest currency unit.

use chrono::{DateTime, Months, TimeZone, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::domain::code::ReferralCode;
use crate::domain::id::{ProgramId, ReferralId};
use crate::domain::ledger::Reversal;
use crate::domain::participant::ReferrerStats;
use crate::domain::referral::{Referral, ReferralStatus, RuleEarnings};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).single().unwrap_or_default()
}

fn v(s: &str) -> Value {
    s.parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn p(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}

fn terms() -> Terms {
    Terms { currency: "USD".parse().unwrap(), rounding: Rounding::HalfEven }
}

fn referral(qualified_at: Option<DateTime<Utc>>) -> Referral {
    Referral {
        id: ReferralId::from_uuid(uuid::Uuid::nil()),
        program: ProgramId::new("p").unwrap(),
        referrer: p("ref"),
        referee: p("new"),
        code: ReferralCode::parse("ABCDE").unwrap(),
        channel: Channel::Link,
        status: ReferralStatus::Qualified,
        attributed_at: t0(),
        qualified_at,
        history: vec![],
        purchases: 1,
        earned: vec![],
        in_review: None,
        paid_once: vec![],
        counts_for_referrer: false,
        qualified_purchases: 0,
        standing_referrer_rewards: 0,
    }
}

fn stats(qualified: u64, sales: u64) -> ReferrerStats {
    ReferrerStats { qualified, sales, ..ReferrerStats::default() }
}

fn purchase(amount: &str) -> Trigger {
    Trigger::Purchase { order: "o".parse().unwrap(), amount: v(amount), first: true }
}

/// Runs a policy on a trigger with a referral `new` <- `ref` <- `up2` <- `up3`.
fn run(
    policy: &dyn RewardPolicy,
    trigger: &Trigger,
    r: &Referral,
    s: &ReferrerStats,
    now: DateTime<Utc>,
) -> Vec<Grant> {
    let terms = terms();
    let chain = [p("ref"), p("up2"), p("up3")];
    let ctx = PolicyContext {
        terms: &terms,
        trigger,
        actor: &r.referee,
        referral: Some(r),
        chain: &chain,
        stats: Some(s),
        segment: None,
        now,
    };
    policy.grants(&ctx).unwrap()
}

fn amounts(grants: &[Grant]) -> Vec<Decimal> {
    grants.iter().map(|g| g.value.amount()).collect()
}

#[test]
fn tiered_count_bands_switch_exactly_at_their_edges() {
    let t = Tiered::new(
        "bands",
        On::Qualified,
        TierBasis::QualifiedCount,
        vec![
            Tier::new(d("1"), Amount::Fixed(v("10 USD"))),
            Tier::new(d("6"), Amount::Fixed(v("15 USD"))),
            Tier::new(d("21"), Amount::Fixed(v("20 USD"))),
        ],
    );
    let r = referral(Some(t0()));
    for (count, want) in [(1, "10"), (5, "10"), (6, "15"), (20, "15"), (21, "20"), (500, "20")] {
        assert_eq!(amounts(&run(&t, &Trigger::Qualified, &r, &stats(count, 0), t0())), vec![d(want)], "count {count}");
    }
    // Below the lowest band: nothing.
    assert!(run(&t, &Trigger::Qualified, &r, &stats(0, 0), t0()).is_empty());
}

#[test]
fn tiered_conversion_applies_strictly_above_the_threshold() {
    let t = Tiered::new(
        "rates",
        On::Qualified,
        TierBasis::Conversion,
        vec![Tier::new(d("0"), Amount::Fixed(v("300 RUB"))), Tier::new(d("10"), Amount::Fixed(v("350 RUB")))],
    );
    let r = referral(Some(t0()));
    // Zero leads, zero sales: the base tier.
    assert_eq!(amounts(&run(&t, &Trigger::Qualified, &r, &stats(0, 0), t0())), vec![d("300")]);
    // Exactly 10%: not above it.
    assert_eq!(amounts(&run(&t, &Trigger::Qualified, &r, &stats(10, 1), t0())), vec![d("300")]);
    // 1 sale in 9 leads = 11.1%: above.
    assert_eq!(amounts(&run(&t, &Trigger::Qualified, &r, &stats(9, 1), t0())), vec![d("350")]);
}

#[test]
fn milestones_pay_once_exactly_at_their_count() {
    let t = Tiered::new(
        "m",
        On::Qualified,
        TierBasis::QualifiedCount,
        vec![Tier::new(d("1"), Amount::Fixed(v("1 points")))],
    )
    .with_milestone(10, v("100 points"));
    let r = referral(Some(t0()));
    assert_eq!(run(&t, &Trigger::Qualified, &r, &stats(9, 0), t0()).len(), 1);
    let at = run(&t, &Trigger::Qualified, &r, &stats(10, 0), t0());
    assert_eq!(amounts(&at), vec![d("1"), d("100")]);
    assert_eq!(at[1].rule_suffix.as_deref(), Some("milestone-10"));
    assert_eq!(run(&t, &Trigger::Qualified, &r, &stats(11, 0), t0()).len(), 1);
}

#[test]
fn multi_level_cap_reached_exactly_and_overshot() {
    let levels = vec![
        LevelReward::new(1, Amount::Fixed(v("5.00 USD"))),
        LevelReward::new(2, Amount::Fixed(v("3.00 USD"))),
        LevelReward::new(3, Amount::Fixed(v("2.00 USD"))),
    ];
    let r = referral(Some(t0()));
    let exact = MultiLevel::new("ml", On::Qualified, levels.clone()).with_per_event_cap(v("10.00 USD"));
    assert_eq!(
        amounts(&run(&exact, &Trigger::Qualified, &r, &stats(1, 0), t0())),
        vec![d("5.00"), d("3.00"), d("2.00")]
    );
    let over = MultiLevel::new("ml", On::Qualified, levels.clone()).with_per_event_cap(v("9.00 USD"));
    let g = run(&over, &Trigger::Qualified, &r, &stats(1, 0), t0());
    // The deepest level is cut first.
    assert_eq!(amounts(&g), vec![d("5.00"), d("3.00"), d("1.00")]);
    assert_eq!(
        g.iter().map(|g| g.role).collect::<Vec<_>>(),
        vec![Role::Referrer, Role::Ancestor(2), Role::Ancestor(3)]
    );
    let tight = MultiLevel::new("ml", On::Qualified, levels).with_per_event_cap(v("5.00 USD"));
    assert_eq!(amounts(&run(&tight, &Trigger::Qualified, &r, &stats(1, 0), t0())), vec![d("5.00")]);
}

#[test]
fn multi_level_never_pays_the_referee_or_anyone_twice() {
    let ml = MultiLevel::new(
        "ml",
        On::Qualified,
        vec![LevelReward::new(1, Amount::Fixed(v("1 USD"))), LevelReward::new(2, Amount::Fixed(v("1 USD")))],
    );
    let r = referral(Some(t0()));
    let terms = terms();
    // A chain that (wrongly) loops back to the referee and repeats: skipped.
    let chain = [p("ref"), p("new"), p("ref")];
    let ctx = PolicyContext {
        terms: &terms,
        trigger: &Trigger::Qualified,
        actor: &r.referee,
        referral: Some(&r),
        chain: &chain,
        stats: None,
        segment: None,
        now: t0(),
    };
    let g = ml.grants(&ctx).unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].beneficiary, p("ref"));
}

#[test]
fn revenue_share_caps_reached_exactly_and_overshot() {
    let r = referral(Some(t0()));
    let per_payment = RevenueShare::new("rs", d("40")).with_per_payment_cap(d("40.00"));
    assert_eq!(amounts(&run(&per_payment, &purchase("100.00 USD"), &r, &stats(1, 1), t0())), vec![d("40.00")]);
    assert_eq!(amounts(&run(&per_payment, &purchase("100.01 USD"), &r, &stats(1, 1), t0())), vec![d("40.00")]);
    let lifetime = RevenueShare::new("rs", d("40")).with_lifetime_cap(d("100.00"));
    let mut earned = referral(Some(t0()));
    earned.earned = vec![RuleEarnings { rule: "rs".into(), value: v("60.00 USD") }];
    assert_eq!(amounts(&run(&lifetime, &purchase("100.00 USD"), &earned, &stats(1, 1), t0())), vec![d("40.00")]);
    earned.earned = vec![RuleEarnings { rule: "rs".into(), value: v("80.00 USD") }];
    assert_eq!(amounts(&run(&lifetime, &purchase("100.00 USD"), &earned, &stats(1, 1), t0())), vec![d("20.00")]);
    earned.earned = vec![RuleEarnings { rule: "rs".into(), value: v("100.00 USD") }];
    assert!(run(&lifetime, &purchase("100.00 USD"), &earned, &stats(1, 1), t0()).is_empty());
}

#[test]
fn revenue_share_stops_exactly_n_months_after_qualification() {
    // Qualified on January 31st: 12 months later is January 31st next year.
    let rs = RevenueShare::new("rs", d("40")).for_months(12);
    let r = referral(Some(t0()));
    let end = t0().checked_add_months(Months::new(12)).unwrap();
    let before = end - chrono::Duration::seconds(1);
    assert_eq!(run(&rs, &purchase("100.00 USD"), &r, &stats(1, 1), before).len(), 1);
    assert!(run(&rs, &purchase("100.00 USD"), &r, &stats(1, 1), end).is_empty());
    // Not qualified: nothing.
    assert!(run(&rs, &purchase("100.00 USD"), &referral(None), &stats(1, 1), t0()).is_empty());
}

#[test]
fn percentages_round_to_the_smallest_unit_half_even_and_zero_pays_nothing() {
    let r = referral(Some(t0()));
    let rs = RevenueShare::new("rs", d("40"));
    // 40% of 0.01 = 0.004 -> 0.00: nothing to grant.
    assert!(run(&rs, &purchase("0.01 USD"), &r, &stats(1, 1), t0()).is_empty());
    // 40% of 0.02 = 0.008 -> 0.01, the smallest unit.
    assert_eq!(amounts(&run(&rs, &purchase("0.02 USD"), &r, &stats(1, 1), t0())), vec![d("0.01")]);
    // 5% of 84.90 = 4.245 -> 4.24 (half to even); of 84.70 = 4.235 -> 4.24.
    let two = TwoSided::new(
        "ts",
        Side::new(On::FirstPurchase, Amount::Percent(d("5"))),
        Side::new(On::SignUp, Amount::Fixed(v("10 discount"))),
    );
    assert_eq!(amounts(&run(&two, &purchase("84.90 USD"), &r, &stats(1, 1), t0())), vec![d("4.24")]);
    assert_eq!(amounts(&run(&two, &purchase("84.70 USD"), &r, &stats(1, 1), t0())), vec![d("4.24")]);
    let g = run(&two, &purchase("84.90 USD"), &r, &stats(1, 1), t0());
    assert_eq!(g[0].reversal, Reversal::Proportional);
    // Yen has no minor unit: 5% of 99 JPY = 4.95 -> 5.
    let jpy = TwoSided::new(
        "ts",
        Side::new(On::FirstPurchase, Amount::Percent(d("5"))),
        Side::new(On::SignUp, Amount::Fixed(v("1 points"))),
    );
    assert_eq!(amounts(&run(&jpy, &purchase("99 JPY"), &r, &stats(1, 1), t0())), vec![d("5")]);
}

#[test]
fn one_sided_pays_the_right_person_on_the_right_trigger() {
    let r = referral(Some(t0()));
    let invites = OneSided::new("inv", On::InviteSent, Amount::Fixed(v("5 points")));
    let terms = terms();
    let trigger = Trigger::InviteSent { channel: Channel::Email };
    let me = p("inviter");
    let ctx = PolicyContext {
        terms: &terms,
        trigger: &trigger,
        actor: &me,
        referral: None,
        chain: &[],
        stats: None,
        segment: None,
        now: t0(),
    };
    let g = invites.grants(&ctx).unwrap();
    assert_eq!((g[0].beneficiary.clone(), g[0].role), (me, Role::Referrer));
    let bounty = OneSided::new("bounty", On::FirstPurchase, Amount::Fixed(v("25.00 USD")));
    let g = run(&bounty, &purchase("10.00 USD"), &r, &stats(1, 1), t0());
    assert_eq!((g[0].beneficiary.clone(), g[0].reversal), (p("ref"), Reversal::OnFullRefund));
    let second = Trigger::Purchase { order: "o2".parse().unwrap(), amount: v("10.00 USD"), first: false };
    assert!(run(&bounty, &second, &r, &stats(1, 1), t0()).is_empty());
}

#[test]
fn specs_refuse_values_that_cannot_work_and_name_the_field() {
    let bad = PolicySpec::OneSided(OneSided::new("x", On::SignUp, Amount::Percent(d("5"))));
    let err = bad.build("policies[0]").unwrap_err();
    assert!(err.to_string().contains("policies[0].reward"), "{err}");
    let zero = PolicySpec::OneSided(OneSided::new("x", On::SignUp, Amount::Fixed(v("0 points"))));
    assert!(zero.build("p").is_err());
    let deep = PolicySpec::MultiLevel(MultiLevel::new(
        "x",
        On::Qualified,
        vec![LevelReward::new(11, Amount::Fixed(v("1 USD")))],
    ));
    assert!(deep.build("p").unwrap_err().to_string().contains("p.levels[0].level"));
    let over = PolicySpec::RevenueShare(RevenueShare::new("x", d("100.01")));
    assert!(over.build("p").unwrap_err().to_string().contains("p.percent"));
}
