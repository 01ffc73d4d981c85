//! Evernote: the referrer earns 10 points per qualified referral, the friend a
//! month of Premium on sign-up; points buy Premium months from a catalog.
//!
//! A referrer with 3 friends redeems 10 points for one Premium month and keeps 20.
//!
//! Run: `cargo run --example evernote`

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::fmt::Write as _;

use referral_engine::event::{Enroll, Redeem, SignUp};
use referral_engine::{Engine, MemoryStore};

const PROGRAM: &str = r#"{
    "id": "evernote", "name": "Evernote referrals", "currency": "USD",
    "policies": [{"type": "two_sided", "name": "premium",
        "referrer": {"on": "qualified", "reward": {"fixed": "10 points"}},
        "referee":  {"on": "sign_up",   "reward": {"fixed": "1 entitlement:premium_month"}}}],
    "catalog": [{"id": "premium_month", "price": "10 points", "gives": "1 entitlement:premium_month"}]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let demo = common::Demo::new(PROGRAM, "2026-03-01T09:00:00Z")?;
    let enrolled = demo.send(Enroll::new("ana".parse()?).with_vanity_code("ANA-NOTES"))?;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    for friend in ["ben", "cai", "dee"] {
        demo.send(SignUp::new(friend.parse()?, code.clone()))?;
    }
    demo.send(Redeem::new("ana".parse()?, "premium_month"))?;

    let points = "points".parse()?;
    let premium = "entitlement:premium_month".parse()?;
    let mut report = String::new();
    writeln!(report, "{:<6} {:>8} {:>10} {:>16}", "who", "points", "redeemed", "premium months")?;
    for who in ["ana", "ben", "cai", "dee"] {
        let p = demo.read().participant(&who.parse()?)?.ok_or("unknown participant")?;
        let pts = p.balance(&points);
        writeln!(report, "{:<6} {:>8} {:>10} {:>16}", who, pts.available, pts.redeemed, p.balance(&premium).available)?;
    }
    Ok((demo.engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
