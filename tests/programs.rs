//! Programs from files and code, policies from outside the crate, routing,
//! and the engine's limits.

mod common;
use referral_engine::Refusal;
use referral_engine::event::{Enroll, IssueCode, IssuePartnerCodes, Purchase, Reinstate, SignUp, Suspend};
use std::sync::Arc;

use common::*;
use referral_engine::domain::ledger::Role;
use referral_engine::domain::referral::{ReferralStatus, RejectReason};
use referral_engine::event::LimitReason;
use referral_engine::policy::{Grant, PolicyContext, PolicyError, RewardPolicy, Trigger};
use referral_engine::program::ProgramError;
use referral_engine::{Error, Event, Notice, ProgramSpec};

const COMBINED_TOML: &str = r#"
id = "combo"
name = "Two-sided plus three levels"
currency = "EUR"
hold_days = 0

[[policies]]
type = "two_sided"
name = "welcome"
referrer = { on = "qualified", reward = { fixed = "10.00 EUR" } }
referee = { on = "qualified", reward = { fixed = "5.00 EUR" } }

[[policies]]
type = "multi_level"
name = "network"
on = "qualified"
per_event_cap = "1.50 EUR"
levels = [
  { level = 2, reward = { fixed = "1.00 EUR" } },
  { level = 3, reward = { fixed = "1.00 EUR" } },
]
"#;

#[test]
fn a_two_sided_plus_multi_level_program_loads_from_toml_and_runs() {
    let spec: ProgramSpec = toml::from_str(COMBINED_TOML).unwrap();
    let w = World::new(spec.build().unwrap());
    let a = w.enroll("a");
    w.sign_up("b", &a).unwrap();
    let b = w.enroll("b");
    w.sign_up("c", &b).unwrap();
    let c = w.enroll("c");
    let out = w.sign_up("d", &c).unwrap();
    // c and d: the two-sided pair; b level 2 (1.00), a level 3 cut to 0.50 by the cap.
    let paid: Vec<(String, String)> =
        out.rewards.iter().map(|r| (r.beneficiary.to_string(), r.value.to_string())).collect();
    assert_eq!(
        paid,
        vec![
            ("c".into(), "10.00 EUR".into()),
            ("d".into(), "5.00 EUR".into()),
            ("b".into(), "1.00 EUR".into()),
            ("a".into(), "0.50 EUR".into())
        ]
    );
    // a: 10.00 for b, 1.00 at level 2 for c, 0.50 at level 3 for d
    assert_eq!(w.balance("a", "EUR").available, dec("11.50"));
}

#[test]
fn invalid_definitions_name_the_field() {
    let cases = [
        (r#""name": """#, "name"),
        (r#""hold_days": 0, "attribution": {"window_days": 0}"#, "attribution.window_days"),
        (r#""limits": {"budgets": ["-1 USD"]}"#, "limits.budgets[0]"),
        (r#""catalog": [{"id": "a", "price": "0 points"}]"#, "catalog[0].price"),
        (
            r#""policies": [{"type": "tiered", "name": "t", "on": "qualified", "basis": "conversion", "tiers": []}]"#,
            "policies[0].tiers",
        ),
        (r#""policies": [{"type": "two_sided", "name": "x"}]"#, "policies[0]"),
    ];
    for (extra, field) in cases {
        let json = format!(r#"{{"id": "p", "currency": "USD", "name": "P", {extra}}}"#)
            .replace(r#""name": "P", "name": """#, r#""name": """#);
        let spec: ProgramSpec = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        match spec.build() {
            Err(ProgramError::Invalid { field: got, .. }) => assert_eq!(got, field, "{json}"),
            other => panic!("{json}: expected an error naming {field}, got {other:?}"),
        }
    }
    // Serde errors say what is wrong too.
    let err = serde_json::from_str::<ProgramSpec>(r#"{"id": "p", "name": "P", "currency": "US"}"#).unwrap_err();
    assert!(err.to_string().contains("not a currency"), "{err}");
}

/// A host's own rule: a flat 1 point per purchase to the referee, and 2 to
/// the referrer when the purchase is over 100.
#[derive(Debug)]
struct LoyaltyKicker;

impl RewardPolicy for LoyaltyKicker {
    fn name(&self) -> &str {
        "kicker"
    }

    fn grants(&self, ctx: &PolicyContext<'_>) -> Result<Vec<Grant>, PolicyError> {
        let (Trigger::Purchase { amount, .. }, Some(referee)) = (ctx.trigger, ctx.referee()) else {
            return Ok(vec![]);
        };
        let point: referral_engine::Value = "1 points".parse()?;
        let mut out = vec![Grant::new(referee.clone(), Role::Referee, point.clone(), "1 point per purchase")];
        if let (true, Some(referrer)) = (amount.amount() > dec("100"), ctx.referrer()) {
            out.push(Grant::new(
                referrer.clone(),
                Role::Referrer,
                point.with_amount(dec("2")),
                "2 points for a big order",
            ));
        }
        Ok(out)
    }
}

#[test]
fn a_policy_defined_outside_the_crate_plugs_into_a_program() {
    let spec: ProgramSpec = serde_json::from_str(r#"{"id": "own", "name": "Own", "currency": "USD"}"#).unwrap();
    let program = spec.build_with(vec![Arc::new(LoyaltyKicker)]).unwrap();
    let w = World::new(program);
    let code = w.enroll("ann");
    w.sign_up("bo", &code).unwrap();
    w.purchase("bo", "o1", "50.00 USD").unwrap();
    let out = w.purchase("bo", "o2", "150.00 USD").unwrap();
    assert_eq!(out.rewards.iter().filter(|r| r.rule == "kicker").count(), 2);
    assert_eq!(w.balance("bo", "points").available, dec("2"));
    assert_eq!(w.balance("ann", "points").available, dec("2"));
    let statement = w.engine.read(&w.program).statement(&pid("ann")).all().unwrap();
    assert_eq!(statement[0].explanation, "2 points for a big order");
}

#[test]
fn segments_route_referrers_to_their_own_policies() {
    let json = r#"{"id": "seg", "name": "Seg", "currency": "USD", "policies": [{"type": "segmented",
        "routes": [{"segment": "partner", "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "50.00 USD"}}]}],
        "default": [{"type": "one_sided", "name": "thanks", "on": "sign_up", "reward": {"fixed": "5 points"}}]}]}"#;
    let w = World::new(program(json));
    let partner = w.enroll_in("agency", "partner");
    let customer = w.enroll("cust");
    w.sign_up("x", &partner).unwrap();
    w.sign_up("y", &customer).unwrap();
    assert_eq!(w.balance("agency", "USD").available, dec("50.00"));
    assert_eq!(w.balance("cust", "points").available, dec("5"));
    assert_eq!(w.balance("cust", "USD").available, dec("0"));
}

const LIMITED: &str = r#"{
    "id": "lim", "name": "Limited", "currency": "USD",
    "limits": {"referrer_caps": ["25.00 USD"], "budgets": ["40.00 USD"], "budget_mode": "refuse"},
    "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "10.00 USD"}}]
}"#;

#[test]
fn a_referrer_cap_is_reached_exactly_then_cuts_and_withholds() {
    let w = World::new(program(&LIMITED.replace("40.00 USD", "1000.00 USD")));
    let code = w.enroll("ann");
    w.sign_up("f1", &code).unwrap();
    w.sign_up("f2", &code).unwrap();
    let cut = w.sign_up("f3", &code).unwrap(); // 20 + 10 > 25: cut to 5
    assert!(cut.notices.iter().any(|n| matches!(n, Notice::RewardCut { reason: LimitReason::ReferrerCap(_), granted, .. } if granted.to_string() == "5.00 USD")));
    assert_eq!(w.balance("ann", "USD").available, dec("25.00"));
    let none = w.sign_up("f4", &code).unwrap();
    assert!(
        none.notices.iter().any(|n| matches!(n, Notice::RewardWithheld { reason: LimitReason::ReferrerCap(_), .. }))
    );
    assert_eq!(w.balance("ann", "USD").available, dec("25.00"));
}

/// In one batch, each sign-up's grant counts against the budget for the ones
/// after it, also while its counter shard is new (written earlier in the batch,
/// not yet in the store).
#[test]
fn a_budget_holds_within_one_batch_on_a_fresh_program() {
    let w = World::new(program(LIMITED));
    let codes: Vec<_> = (0..6).map(|i| w.enroll(&format!("r{i}"))).collect();
    let sign_ups: Vec<_> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| w.event(SignUp::new(pid(&format!("f{i}")), code.to_string()).into()))
        .collect();
    let results = w.engine.handle_batch(&sign_ups).unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(w.engine.read(&w.program).totals().unwrap().granted_in(&asset("USD")), dec("40.00"));
}

#[test]
fn a_budget_in_refuse_mode_grants_nothing_that_would_cross_it() {
    let w = World::new(program(LIMITED));
    let (a, b) = (w.enroll("ann"), w.enroll("bob"));
    w.sign_up("f1", &a).unwrap();
    w.sign_up("f2", &a).unwrap();
    w.sign_up("f3", &b).unwrap();
    w.sign_up("f4", &b).unwrap(); // 40.00 reached exactly
    let refused = w.sign_up("f5", &b).unwrap();
    assert!(refused.notices.iter().any(|n| matches!(n, Notice::RewardWithheld { reason: LimitReason::Budget(_), .. })));
    assert_eq!(w.engine.read(&w.program).totals().unwrap().granted_in(&asset("USD")), dec("40.00"));
}

#[test]
fn partner_codes_are_single_use_and_all_attribute_to_the_partner() {
    let w = World::new(program(&LIMITED.replace("40.00 USD", "1000.00 USD").replace("25.00 USD", "1000.00 USD")));
    w.enroll("moleskine");
    let out = w.ok(IssuePartnerCodes::new(pid("moleskine"), 3).into());
    assert_eq!(out.codes.len(), 3);
    for (i, code) in out.codes.iter().enumerate() {
        w.sign_up(&format!("buyer-{i}"), code).unwrap();
        let r = w.engine.read(&w.program).referral(&pid(&format!("buyer-{i}"))).unwrap().unwrap();
        assert_eq!(r.referrer, pid("moleskine"));
    }
    let again = w.sign_up("buyer-x", &out.codes[0]);
    assert!(matches!(again, Err(Error::Refused(Refusal::CodeAlreadyRedeemed(_)))));
    assert!(matches!(
        w.send(IssuePartnerCodes::new(pid("moleskine"), 0).into()),
        Err(Error::Refused(Refusal::InvalidEvent(_)))
    ));
}

#[test]
fn vanity_codes_normalize_and_cannot_be_taken_twice() {
    let w = World::new(program(LIMITED));
    let out = w.ok(Enroll::new(pid("ann")).with_vanity_code("Ann-2026").into());
    assert_eq!(out.codes[0].as_str(), "ANN2026");
    w.sign_up("f", &"ann 2026".parse().unwrap()).unwrap();
    let taken = w.send(IssueCode::new(pid("ann")).with_vanity_code("ANN-2026").into());
    assert!(matches!(taken, Err(Error::Refused(Refusal::CodeTaken(_)))));
    let second = w.ok(IssueCode::new(pid("ann")).into());
    assert_eq!(w.engine.read(&w.program).resolve_code(second.codes[0].as_str()).unwrap().unwrap().owner, pid("ann"));
}

#[test]
fn last_touch_lets_a_later_code_take_over_until_qualification() {
    let json = r#"{"id": "lt", "name": "LT", "currency": "USD", "attribution": {"model": "last_touch"},
        "qualification": {"first_purchase": {}},
        "policies": [{"type": "revenue_share", "name": "rs", "percent": "10"}]}"#;
    let w = World::new(program(json));
    let (a, b) = (w.enroll("ann"), w.enroll("bob"));
    w.sign_up("cy", &a).unwrap();
    w.sign_up("cy", &b).unwrap();
    assert_eq!(w.engine.read(&w.program).referral(&pid("cy")).unwrap().unwrap().referrer, pid("bob"));
    w.purchase("cy", "o1", "100.00 USD").unwrap();
    // Locked once qualified: later codes are refused, later payments follow bob.
    assert!(matches!(w.sign_up("cy", &a), Err(Error::Refused(Refusal::AlreadyReferred { .. }))));
    w.purchase("cy", "o2", "100.00 USD").unwrap();
    assert_eq!(w.balance("bob", "USD").available, dec("20.00"));
    assert_eq!(w.balance("ann", "USD").available, dec("0"));
    let superseded = w.engine.read(&w.program).audit(10).unwrap();
    assert!(
        superseded
            .iter()
            .any(|a| matches!(&a.notice, Notice::ReferralRejected { reason: RejectReason::Superseded, .. }))
    );
}

#[test]
fn a_coupon_typed_at_the_first_purchase_attributes_and_qualifies() {
    let json = r#"{"id": "cp", "name": "CP", "currency": "USD", "qualification": {"first_purchase": {}},
        "policies": [{"type": "one_sided", "name": "b", "on": "qualified", "reward": {"fixed": "7.00 USD"}}]}"#;
    let w = World::new(program(json));
    let code = w.enroll("ann");
    w.ok(Purchase::new(pid("zoe"), "o1".parse().unwrap(), value("30.00 USD")).with_coupon(code.to_string()).into());
    let r = w.engine.read(&w.program).referral(&pid("zoe")).unwrap().unwrap();
    assert_eq!((r.status, r.channel.tag()), (ReferralStatus::Rewarded, "coupon"));
    assert_eq!(w.balance("ann", "USD").available, dec("7.00"));
}

#[test]
fn a_suspended_referrer_earns_nothing_new_until_reinstated() {
    let w = World::new(program(&LIMITED.replace("40.00 USD", "1000.00 USD").replace("25.00 USD", "1000.00 USD")));
    let code = w.enroll("ann");
    w.ok(Suspend::new(pid("ann")).into());
    let out = w.sign_up("f1", &code).unwrap();
    assert!(out.notices.iter().any(|n| matches!(n, Notice::RewardWithheld { reason: LimitReason::Suspended, .. })));
    w.ok(Reinstate::new(pid("ann")).into());
    w.sign_up("f2", &code).unwrap();
    assert_eq!(w.balance("ann", "USD").available, dec("10.00"));
}

#[test]
fn a_dry_run_returns_the_outcome_and_writes_nothing() {
    let w = World::new(program(LIMITED));
    let code = w.enroll("ann");
    let before = w.engine.store().dump();
    let event = Event::new("dry", "lim", SignUp::new(pid("f"), code.to_string())).unwrap();
    let preview = flat(w.engine.dry_run(&event)).unwrap();
    assert_eq!(preview.rewards.len(), 1);
    assert_eq!(w.engine.store().dump(), before);
    assert_eq!(flat(w.engine.handle(&event)).unwrap(), preview);
}

#[test]
fn the_enrollment_rule_decides_who_may_refer() {
    let json = r#"{"id": "er", "name": "ER", "currency": "USD",
        "enrollment": {"all": [{"equals": ["plan", "pro"]}, {"at_least": ["nps", 9]}]},
        "policies": [{"type": "one_sided", "name": "b", "on": "qualified", "reward": {"fixed": "1.00 USD"}}]}"#;
    let w = World::new(program(json));
    let enroll = |who: &str, nps: i64| {
        let mut attributes = referral_engine::domain::participant::Attributes::new();
        attributes.insert("plan".into(), referral_engine::domain::participant::Attribute::Text("pro".into()));
        attributes.insert("nps".into(), referral_engine::domain::participant::Attribute::Number(nps.into()));
        w.send(Enroll::new(pid(who)).with_attributes(attributes).into())
    };
    assert!(enroll("fan", 9).is_ok());
    assert!(matches!(enroll("meh", 8), Err(Error::Refused(Refusal::NotEligible(_)))));
}

#[test]
fn a_lifetime_cap_binds_inside_a_segment_route_too() {
    let json = r#"{"id": "segcap", "name": "SegCap", "currency": "USD", "qualification": {"first_purchase": {}},
        "policies": [{"type": "segmented", "routes": [{"segment": "vip", "policies": [
            {"type": "revenue_share", "name": "share", "percent": "50", "lifetime_cap": "60.00"}]}]}]}"#;
    let w = World::new(program(json));
    let code = w.enroll_in("ann", "vip");
    w.sign_up("bo", &code).unwrap();
    w.purchase("bo", "o1", "100.00 USD").unwrap();
    w.purchase("bo", "o2", "100.00 USD").unwrap();
    w.purchase("bo", "o3", "100.00 USD").unwrap();
    assert_eq!(w.balance("ann", "USD").available, dec("60.00"));
}

/// Program files are checked as strictly as events: ISO 4217 codes (or a
/// currency of one's own with its minor units), every amount at its
/// currency's scale, and one value syntax for the minimum.
#[test]
fn currencies_and_amounts_are_checked_at_build() {
    let build = |currency: &str, extra: &str, reward: &str| {
        let json = format!(
            r#"{{"id": "p", "name": "P", "currency": "{currency}", {extra}
            "policies": [{{"type": "one_sided", "name": "b", "on": "qualified", "reward": {{"fixed": "{reward}"}}}}]}}"#
        );
        serde_json::from_str::<ProgramSpec>(&json)
            .map_err(|e| e.to_string())
            .and_then(|s| s.build().map_err(|e| e.to_string()))
    };
    let unknown = build("USS", "", "5.00 USD").unwrap_err();
    assert!(unknown.contains("ISO 4217"), "{unknown}");
    let too_fine = build("USD", "", "0.001 USD").unwrap_err();
    assert!(too_fine.contains("policies[0].reward") && too_fine.contains("finer"), "{too_fine}");
    assert!(build("USD", "", "5 USD").is_ok(), "an amount coarser than the minor unit is exact");
    assert!(build("PTS/0", "", "5 PTS/0").is_ok());
    assert!(build("PTS/0", "", "5.5 PTS/0").is_err());
    assert!(build("USD", r#""limits": {"budgets": ["100.005 USD"]},"#, "5.00 USD").is_err());
    for minimum in [r#""10.00""#, "10", r#""10.00 USD""#] {
        let extra = format!(r#""qualification": {{"first_purchase": {{"minimum": {minimum}}}}},"#);
        assert!(build("USD", &extra, "5.00 USD").is_ok(), "{minimum}");
    }
    for minimum in [r#""10.00 EUR""#, r#""10.001""#, r#""ten""#] {
        let extra = format!(r#""qualification": {{"first_purchase": {{"minimum": {minimum}}}}},"#);
        assert!(build("USD", &extra, "5.00 USD").is_err(), "{minimum}");
    }
}
