//! Yesware: one-sided points, 1000 per friend who signs up; 6000 points buy a
//! T-shirt, 12000 an Amazon gift card.
//!
//! A referrer with 13 friends redeems the gift card and keeps 1000 points; a
//! T-shirt then fails for want of points, and the output shows the error.
//!
//! Run: `cargo run --example yesware`

use referral_engine::event::{Enroll, Redeem, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "yesware", "name": "Yesware rewards", "currency": "USD",
    "policies": [{"type": "one_sided", "name": "points-per-friend", "on": "sign_up", "reward": {"fixed": "1000 points"}}],
    "catalog": [
        {"id": "tshirt", "price": "6000 points"},
        {"id": "amazon_gift_card", "price": "12000 points"}
    ]
}"#;

/// Runs the scenario; returns the engine, the T-shirt error as printed, and the report.
pub fn run() -> Result<(Engine<MemoryStore>, String, String), Box<dyn Error>> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let clock = ManualClock::new("2026-03-01T09:00:00Z".parse()?);
    let engine = Engine::new(MemoryStore::new()).with_clock(clock).with_program(program);
    let mut n = 0;
    let mut send = |kind: EventKind| {
        n += 1;
        engine.handle(&Event::new(&format!("event-{n}"), "yesware", kind)?)?.map_err(referral_engine::Error::from)
    };

    let enrolled = send(Enroll::new("sam".parse()?).into())?;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    for i in 1..=13 {
        send(SignUp::new(format!("friend-{i}").parse()?, code.clone()).into())?;
    }
    let program = "yesware".parse()?;
    let points = "points".parse()?;
    let sam = "sam".parse()?;
    let mut report = String::new();
    writeln!(report, "sam earned {} points from 13 friends", engine.read(&program).balance(&sam, &points)?.available)?;
    send(Redeem::new(sam.clone(), "amazon_gift_card").into())?;
    writeln!(
        report,
        "redeemed amazon_gift_card: {} points left",
        engine.read(&program).balance(&sam, &points)?.available
    )?;
    let refused = match send(Redeem::new(sam.clone(), "tshirt").into()) {
        Ok(_) => return Err("the T-shirt should not be affordable".into()),
        Err(e) => e.to_string(),
    };
    writeln!(report, "tshirt refused: {refused}")?;
    writeln!(report, "balance still {} points", engine.read(&program).balance(&sam, &points)?.available)?;
    Ok((engine, refused, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, _, report) = run()?;
    print!("{report}");
    Ok(())
}
