//! Every example runs here too, and the figures it prints are checked.
#![allow(clippy::unwrap_used)]
// Each example includes the shared set-up (examples/common) as a module of its own.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/dropbox.rs"]
mod dropbox;

use referral_engine::ParticipantId;
use referral_engine::domain::id::ProgramId;
use referral_engine::domain::referral::ReferralStatus;
use rust_decimal::Decimal;

fn pid(s: &str) -> ParticipantId {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn dropbox_pays_32_referrals_and_records_8_over_the_cap() {
    let (engine, report) = dropbox::run().unwrap();
    let program: ProgramId = "dropbox".parse().unwrap();
    let mb = "unit:MB".parse().unwrap();
    assert_eq!(engine.read(&program).balance(&pid("alice"), &mb).unwrap().available, dec("16000"));
    let referrals = engine.read(&program).referrals().all().unwrap();
    assert_eq!(referrals.len(), 40);
    assert_eq!(referrals.iter().filter(|r| r.status == ReferralStatus::Rewarded).count(), 32);
    assert_eq!(referrals.iter().filter(|r| r.status == ReferralStatus::Qualified).count(), 8);
    for i in 1..=40 {
        let friend = pid(&format!("friend-{i:02}"));
        assert_eq!(engine.read(&program).balance(&friend, &mb).unwrap().available, dec("500"));
    }
    assert!(report.contains("alice: 16000 MB from 32 rewarded referrals; 8 over the cap of 32"), "{report}");
}

#[path = "../examples/evernote.rs"]
mod evernote;
#[path = "../examples/moe_delo.rs"]
mod moe_delo;
#[path = "../examples/revshare.rs"]
mod revshare;
#[path = "../examples/shop.rs"]
mod shop;
#[path = "../examples/yesware.rs"]
mod yesware;

#[test]
fn evernote_referrer_redeems_10_of_30_points_for_a_premium_month() {
    let (engine, report) = evernote::run().unwrap();
    let program: ProgramId = "evernote".parse().unwrap();
    let points = "points".parse().unwrap();
    let premium = "entitlement:premium_month".parse().unwrap();
    let ana = engine.read(&program).balance(&pid("ana"), &points).unwrap();
    assert_eq!((ana.available, ana.redeemed), (dec("20"), dec("10")));
    assert_eq!(engine.read(&program).balance(&pid("ana"), &premium).unwrap().available, dec("1"));
    for friend in ["ben", "cai", "dee"] {
        assert_eq!(engine.read(&program).balance(&pid(friend), &premium).unwrap().available, dec("1"));
    }
    assert!(report.contains("ana          20         10                1"), "{report}");
}

#[test]
fn yesware_gift_card_leaves_1000_points_and_the_tshirt_is_refused() {
    let (engine, refused, report) = yesware::run().unwrap();
    let program: ProgramId = "yesware".parse().unwrap();
    let sam = engine.read(&program).balance(&pid("sam"), &"points".parse().unwrap()).unwrap();
    assert_eq!((sam.available, sam.redeemed), (dec("1000"), dec("12000")));
    assert_eq!(refused, "sam has 1000 available; 6000 points is needed");
    assert!(report.contains("sam earned 13000 points from 13 friends"), "{report}");
    assert!(report.contains("balance still 1000 points"), "{report}");
}

#[test]
fn moe_delo_applies_both_rates_and_the_second_level() {
    let (engine, report) = moe_delo::run().unwrap();
    let program: ProgramId = "moe_delo".parse().unwrap();
    let rub = "RUB".parse().unwrap();
    // ivan: 5 leads at 300, then 2 at 350 once conversion passed 10%
    assert_eq!(engine.read(&program).balance(&pid("ivan"), &rub).unwrap().available, dec("2200"));
    // olga: 300 for ivan, 10 for each of ivan's 7 leads
    assert_eq!(engine.read(&program).balance(&pid("olga"), &rub).unwrap().available, dec("370"));
    assert_eq!(report.matches("the base tier applies").count(), 6, "{report}");
    assert_eq!(report.matches("the tier above 10% applies").count(), 2, "{report}");
    assert_eq!(report.matches("10.00 RUB to level 2").count(), 7, "{report}");
}

#[test]
fn revshare_pays_480_for_12_months_and_a_refund_leaves_440() {
    let (engine, report) = revshare::run().unwrap();
    let program: ProgramId = "revshare".parse().unwrap();
    let rita = engine.read(&program).balance(&pid("rita"), &"USD".parse().unwrap()).unwrap();
    assert_eq!(rita.available, dec("440.00"));
    assert!(report.contains("12       100.00 USD      40.00 USD         480.00"), "{report}");
    assert!(report.contains("13       100.00 USD              -         480.00"), "{report}");
    assert!(report.contains("rita has 440.00 USD"), "{report}");
}

#[test]
fn shop_gives_5_percent_credit_on_the_first_order_and_a_voucher() {
    let (engine, report) = shop::run().unwrap();
    let program: ProgramId = "shop".parse().unwrap();
    let mia = engine.read(&program).balance(&pid("mia"), &"EUR".parse().unwrap()).unwrap();
    assert_eq!(mia.available, dec("4.24")); // 5% of 84.90 = 4.245, half-even to 4.24
    let leo = engine.read(&program).balance(&pid("leo"), &"discount".parse().unwrap()).unwrap();
    assert_eq!(leo.available, dec("10"));
    assert!(report.contains("5% of 84.90 EUR = 4.24 EUR"), "{report}");
    let referral = engine.read(&program).referral(&pid("leo")).unwrap().unwrap();
    assert_eq!(referral.status, ReferralStatus::Rewarded);
}

#[path = "../examples/dashboard.rs"]
mod dashboard;

#[test]
fn dashboard_prints_figures_that_agree_with_the_records() {
    let (engine, out) = dashboard::run().unwrap();
    let program: ProgramId = "app".parse().unwrap();
    let maya = engine.read(&program).participant(&pid("maya")).unwrap().unwrap();
    assert!(
        out.contains(&format!(
            "invites {}  sign-ups {}  qualified {}",
            maya.stats.invites, maya.stats.signups, maya.stats.qualified
        )),
        "{out}"
    );
    // Every line is for a person: no Debug dump of a type (`Name { .. }`, `PhantomData`).
    assert!(!out.contains(" { ") && !out.contains("PhantomData"), "{out}");
    let line = out.lines().find(|l| l.starts_with("expired ")).unwrap();
    let rejected = line.split(", rejected ").nth(1).unwrap();
    assert!(rejected == "none" || rejected.split(", ").all(|r| r.ends_with(')') && r.contains(" (")), "{line}");
    let referrals = engine.read(&program).referrals().all().unwrap();
    let qualified = referrals.iter().filter(|r| r.qualified_at.is_some()).count();
    assert!(out.contains(&format!("-> {} sign-ups", referrals.len())), "{out}");
    assert!(out.contains(&format!("-> {qualified} qualified")), "{out}");
    assert!(out.contains("the top referrers brought 100% of qualified referrals"), "{out}");
}
