//! Evernote: the referrer earns 10 points per qualified referral, the friend a
//! month of Premium on sign-up; points buy Premium months from a catalog.
//!
//! A referrer with 3 friends redeems 10 points for one Premium month and keeps 20.
//!
//! Run: `cargo run --example evernote`

use referral_engine::event::{Enroll, Redeem, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "evernote", "name": "Evernote referrals", "currency": "USD",
    "policies": [{"type": "two_sided", "name": "premium",
        "referrer": {"on": "qualified", "reward": {"fixed": "10 points"}},
        "referee":  {"on": "sign_up",   "reward": {"fixed": "1 entitlement:premium_month"}}}],
    "catalog": [{"id": "premium_month", "price": "10 points", "gives": "1 entitlement:premium_month"}]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let clock = ManualClock::new("2026-03-01T09:00:00Z".parse()?);
    let engine = Engine::new(MemoryStore::new()).with_clock(clock).with_program(program);
    let mut n = 0;
    let mut send = |kind: EventKind| {
        n += 1;
        engine.handle(&Event::new(&format!("event-{n}"), "evernote", kind)?)?.map_err(referral_engine::Error::from)
    };

    let enrolled = send(Enroll::new("ana".parse()?).with_vanity_code("ANA-NOTES").into())?;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    for friend in ["ben", "cai", "dee"] {
        send(SignUp::new(friend.parse()?, code.clone()).into())?;
    }
    send(Redeem::new("ana".parse()?, "premium_month").into())?;

    let program = "evernote".parse()?;
    let points = "points".parse()?;
    let premium = "entitlement:premium_month".parse()?;
    let mut report = String::new();
    writeln!(report, "{:<6} {:>8} {:>10} {:>16}", "who", "points", "redeemed", "premium months")?;
    for who in ["ana", "ben", "cai", "dee"] {
        let p = engine.read(&program).participant(&who.parse()?)?.ok_or("unknown participant")?;
        let pts = p.balance(&points);
        writeln!(report, "{:<6} {:>8} {:>10} {:>16}", who, pts.available, pts.redeemed, p.balance(&premium).available)?;
    }
    Ok((engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
