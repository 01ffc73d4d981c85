//! Yesware: one-sided points, 1000 per friend who signs up; 6000 points buy a
//! T-shirt, 12000 an Amazon gift card.
//!
//! A referrer with 13 friends redeems the gift card and keeps 1000 points; a
//! T-shirt then fails for want of points, and the output shows the error.
//!
//! Run: `cargo run --example yesware`

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::fmt::Write as _;

use referral_engine::event::{Redeem, SignUp};
use referral_engine::{Engine, MemoryStore};

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
    let demo = common::Demo::new(PROGRAM, "2026-03-01T09:00:00Z")?;
    let code = demo.enroll("sam")?;
    for i in 1..=13 {
        demo.send(SignUp::new(format!("friend-{i}").parse()?, code.clone()))?;
    }
    let sam: referral_engine::ParticipantId = "sam".parse()?;
    let mut report = String::new();
    writeln!(report, "sam earned {} points from 13 friends", demo.available("sam", "points")?)?;
    demo.send(Redeem::new(sam.clone(), "amazon_gift_card"))?;
    writeln!(report, "redeemed amazon_gift_card: {} points left", demo.available("sam", "points")?)?;
    let refused = match demo.send(Redeem::new(sam, "tshirt")) {
        Ok(_) => return Err("the T-shirt should not be affordable".into()),
        Err(e) => e.to_string(),
    };
    writeln!(report, "tshirt refused: {refused}")?;
    writeln!(report, "balance still {} points", demo.available("sam", "points")?)?;
    Ok((demo.engine, refused, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, _, report) = run()?;
    print!("{report}");
    Ok(())
}
