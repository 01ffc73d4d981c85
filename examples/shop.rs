//! A shop: the referrer gets 5% of the friend's first order as store credit,
//! the friend a 10%-off voucher when they sign up.
//!
//! Run: `cargo run --example shop`

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::fmt::Write as _;

use referral_engine::event::{Purchase, SignUp};
use referral_engine::{Engine, MemoryStore};

const PROGRAM: &str = r#"{
    "id": "shop", "name": "Give 10%, get 5%", "currency": "EUR",
    "qualification": {"first_purchase": {"minimum": "20.00"}},
    "policies": [{"type": "two_sided", "name": "credit-and-voucher",
        "referrer": {"on": "first_purchase", "reward": {"percent": "5"}},
        "referee":  {"on": "sign_up",        "reward": {"fixed": "10 discount"}}}]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let demo = common::Demo::new(PROGRAM, "2026-05-01T10:00:00Z")?;
    let code = demo.enroll("mia")?;
    demo.send_as("signup", SignUp::new("leo".parse()?, code))?;
    demo.send_as("order-1", Purchase::new("leo".parse()?, "A-1001".parse()?, "84.90 EUR".parse()?))?;
    demo.send_as("order-2", Purchase::new("leo".parse()?, "A-1002".parse()?, "30.00 EUR".parse()?))?;

    let mut report = String::new();
    for (who, asset) in [("mia", "EUR"), ("leo", "discount")] {
        for entry in demo.read().statement(&who.parse()?).all()? {
            if entry.value.asset() == &asset.parse()? {
                writeln!(report, "{who:<4} {:>12}  {}", entry.value.to_string(), entry.explanation)?;
            }
        }
    }
    Ok((demo.engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
