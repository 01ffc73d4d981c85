//! Dashboards, reports, A/B variants and the notification outbox.

mod common;
use chrono::NaiveDate;
use common::*;
use referral_engine::Notice;
use referral_engine::domain::code::{Channel, ShareLink};
use referral_engine::event::NotificationId;
use referral_engine::event::{Acknowledge, InviteSent, SignUp};

const PROGRAM: &str = r#"{
    "id": "shop", "name": "Shop", "currency": "USD",
    "qualification": {"first_purchase": {"minimum": "20.00"}},
    "qualification_window_days": 10,
    "limits": {"velocity": {"max": 3, "window_hours": 24}},
    "policies": [
        {"type": "two_sided", "name": "bounty",
         "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
         "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}},
        {"type": "tiered", "name": "bands", "on": "qualified", "basis": "qualified_count",
         "tiers": [{"threshold": "1", "reward": {"fixed": "1 points"}}, {"threshold": "3", "reward": {"fixed": "2 points"}}]}
    ]
}"#;

fn sign_up_via(w: &World, referee: &str, code: &str, channel: Channel) {
    w.ok(SignUp::new(pid(referee), code).via(channel).into());
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
}

/// A scenario small enough to count by hand.
fn scenario() -> World {
    let w = World::new(program(PROGRAM));
    let ann = w.enroll("ann").to_string();
    let bob = w.enroll("bob").to_string();
    for _ in 0..4 {
        w.ok(InviteSent::new(pid("ann")).via(Channel::Email).into());
    }
    w.ok(InviteSent::new(pid("bob")).via(Channel::Social).into());
    sign_up_via(&w, "c1", &ann, Channel::Email);
    sign_up_via(&w, "c2", &ann, Channel::Email);
    sign_up_via(&w, "c3", &ann, Channel::Social);
    sign_up_via(&w, "c4", &ann, Channel::Social); // the 4th in 24 h: rejected (velocity)
    sign_up_via(&w, "c5", &bob, Channel::Social);
    w.purchase("c1", "o1", "100.00 USD").unwrap(); // qualifies c1
    w.purchase("c2", "o2", "50.00 USD").unwrap(); // qualifies c2
    w.purchase("c5", "o3", "19.99 USD").unwrap(); // under the minimum
    w.refund("o2", "20.00 USD").unwrap();
    w.advance(1);
    w.purchase("c3", "o4", "30.00 USD").unwrap(); // qualifies c3, on day 2
    w.advance(10);
    w.tick(); // c5 expires, on day 12
    w
}

#[test]
fn a_report_matches_the_hand_computed_figures() {
    let w = scenario();
    let r = w.engine.read(&w.program).report(day(1), day(31)).unwrap();
    let c = &r.counters;
    assert_eq!((c.enrolled, c.invites, c.signups, c.qualified, c.rewarded), (2, 5, 4, 3, 3));
    assert_eq!((c.expired, c.rejected.get("velocity").copied()), (1, Some(1)));
    assert_eq!(r.invite_to_signup, Some(dec("80.00"))); // 4 / 5
    assert_eq!(r.signup_to_qualified, Some(dec("75.00"))); // 3 / 4
    assert_eq!(r.inviters, 2);
    assert_eq!(r.k_factor, Some(dec("2.00"))); // (5 invites / 2 inviters) x (4 / 5)
    let email = &r.channels["email"];
    assert_eq!((email.funnel.signups, email.funnel.qualified, email.conversion), (2, 2, Some(dec("100.00"))));
    let social = &r.channels["social"];
    assert_eq!((social.funnel.signups, social.funnel.qualified, social.conversion), (2, 1, Some(dec("50.00"))));
    // 3 qualified x (10 + 5) USD; points 1 + 1 + 1 (ann reaches 3 on c3: the 2-point tier)
    assert_eq!(r.cost.get(&asset("USD")).copied(), Some(dec("45.00")));
    assert_eq!(r.cost.get(&asset("points")).copied(), Some(dec("4")));
    // revenue from referred customers: 100 + 50 + 19.99 - 20 + 30
    assert_eq!(r.revenue, dec("179.99"));
    // (179.99 - 45) / 45
    assert_eq!(r.return_on_spend, Some(dec("299.98")));
    assert_eq!(r.top_referrers, vec![(pid("ann"), 3)]);
    assert_eq!(r.top_share, Some(dec("100.00")));

    // The first day alone: c3 qualified on day 2 and c5 expired on day 12.
    let first = w.engine.read(&w.program).report(day(1), day(1)).unwrap();
    assert_eq!((first.counters.qualified, first.counters.expired), (2, 0));
    assert_eq!(first.revenue, dec("149.99"));
}

#[test]
fn a_dashboard_shows_progress_money_and_links() {
    let w = scenario();
    let links = ShareLink::new("https://shop.example/join");
    let d = w
        .engine
        .read(&w.program)
        .dashboard(&pid("ann"), Some(&links), &[Channel::Email, Channel::Sms])
        .unwrap()
        .unwrap();
    assert_eq!((d.invites, d.signups, d.qualified, d.sales), (4, 3, 3, 3));
    assert_eq!(d.conversion, Some(dec("100.00")));
    let usd = d.balances.iter().find(|b| b.asset == asset("USD")).unwrap();
    assert_eq!(usd.available, dec("30.00"));
    let tier = &d.tiers[0];
    assert_eq!((tier.measure, tier.current, tier.next), (dec("3"), Some(dec("3")), None));
    assert_eq!(d.links.len(), 2);
    assert!(d.links[1].1.ends_with("&channel=sms"), "{:?}", d.links);
    let bob = w.engine.read(&w.program).dashboard(&pid("bob"), None, &[]).unwrap().unwrap();
    assert_eq!((bob.tiers[0].current, bob.tiers[0].next), (None, Some(dec("1"))));
    // Nobody by that name: nothing, not a refusal.
    assert!(w.engine.read(&w.program).dashboard(&pid("nobody"), None, &[]).unwrap().is_none());
}

#[test]
fn notifications_survive_a_crash_between_sending_and_acknowledging() {
    let w = scenario();
    let pending = w.engine.read(&w.program).notifications(usize::MAX).unwrap();
    assert!(pending.len() > 10);
    assert!(pending.windows(2).all(|p| p[0].id.at <= p[1].id.at), "oldest first");
    // The host sends the first five, then crashes before acknowledging them.
    let sent: Vec<NotificationId> = pending.iter().take(5).map(|n| n.id.clone()).collect();
    // ...restarts and reads again: everything is still there, in the same order.
    let again = w.engine.read(&w.program).notifications(usize::MAX).unwrap();
    assert_eq!(again, pending);
    // This time it acknowledges what it sent; the rest stays, in order.
    w.ok(Acknowledge::new(sent.clone()).into());
    let rest = w.engine.read(&w.program).notifications(usize::MAX).unwrap();
    assert_eq!(rest, pending[5..].to_vec());
    // Acknowledging twice (a retried request) changes nothing.
    w.ok(Acknowledge::new(sent).into());
    assert_eq!(w.engine.read(&w.program).notifications(usize::MAX).unwrap(), rest);
    // Per participant, order is kept: ann's notices come as her events happened.
    let ann: Vec<_> = rest
        .iter()
        .filter_map(|n| match &n.notice {
            Notice::RewardGranted { beneficiary, value, .. } if beneficiary.as_str() == "ann" => {
                Some(value.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ann.first().map(String::as_str), Some("10.00 USD"));
}

#[test]
fn acknowledging_one_notice_of_an_event_leaves_its_others() {
    let w = scenario();
    let pending = w.engine.read(&w.program).notifications(usize::MAX).unwrap();
    // The second notice of an event that gave several.
    let second = pending.iter().find(|n| n.id.index == 1).expect("an event with two notices").clone();
    w.ok(Acknowledge::new(vec![second.id.clone()]).into());
    let rest = w.engine.read(&w.program).notifications(usize::MAX).unwrap();
    let expected: Vec<_> = pending.iter().filter(|n| n.id != second.id).cloned().collect();
    assert_eq!(rest, expected);
    // A limit counts notifications, not events.
    assert_eq!(w.engine.read(&w.program).notifications(3).unwrap(), expected[..3].to_vec());
}

#[test]
fn variants_are_assigned_by_hash_and_reported_apart() {
    let json = r#"{
        "id": "ab", "name": "AB", "currency": "USD",
        "variants": [
            {"name": "five", "weight": 1, "policies": [{"type": "one_sided", "name": "five", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]},
            {"name": "ten", "weight": 1, "policies": [{"type": "one_sided", "name": "ten", "on": "sign_up", "reward": {"fixed": "10.00 USD"}}]}
        ]
    }"#;
    let w = World::new(program(json));
    let mut codes = vec![];
    for i in 0..40 {
        codes.push(w.enroll(&format!("r{i}")).to_string());
    }
    for (i, code) in codes.iter().enumerate() {
        w.sign_up(&format!("f{i}"), &code.parse().unwrap()).unwrap();
    }
    let definition = w.engine.program(&w.program).unwrap();
    let report = w.engine.read(&w.program).report(day(1), day(1)).unwrap();
    let (five, ten) = (&report.variants["five"], &report.variants["ten"]);
    assert_eq!(five.referrers + ten.referrers, 40);
    assert!(five.referrers >= 10 && ten.referrers >= 10, "{five:?} {ten:?}");
    assert_eq!(
        five.granted.get(&asset("USD")).copied().unwrap(),
        dec("5.00") * rust_decimal::Decimal::from(five.signups)
    );
    assert_eq!(
        ten.granted.get(&asset("USD")).copied().unwrap(),
        dec("10.00") * rust_decimal::Decimal::from(ten.signups)
    );
    for i in 0..40 {
        let p = w.engine.read(&w.program).participant(&pid(&format!("r{i}"))).unwrap().unwrap();
        // Deterministic: the same id always lands in the same variant.
        assert_eq!(p.variant.as_deref(), definition.assign_variant(&p.id));
        let expected = if p.variant.as_deref() == Some("five") { "5.00" } else { "10.00" };
        assert_eq!(p.balance(&asset("USD")).available, dec(expected));
    }
}
