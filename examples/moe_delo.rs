//! Moe Delo (tiered and multi-level, RUB): 300 RUB per qualified lead, 350 once
//! the referrer's lead-to-sale conversion is above 10%, and 10 RUB to the
//! referrer's own referrer for each second-level lead.
//!
//! Run: `cargo run --example moe_delo`

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::fmt::Write as _;

use referral_engine::event::{Purchase, SignUp};
use referral_engine::{Engine, MemoryStore};

const PROGRAM: &str = r#"{
    "id": "moe_delo", "name": "Moe Delo partners", "currency": "RUB",
    "policies": [
        {"type": "tiered", "name": "per-lead", "on": "qualified", "basis": "conversion",
         "tiers": [{"threshold": "0",  "reward": {"fixed": "300 RUB"}},
                   {"threshold": "10", "reward": {"fixed": "350 RUB"}}]},
        {"type": "multi_level", "name": "second-level", "on": "qualified",
         "levels": [{"level": 2, "reward": {"fixed": "10 RUB"}}]}
    ]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let demo = common::Demo::new(PROGRAM, "2026-03-01T09:00:00Z")?;
    let olga = demo.enroll("olga")?;
    let mut report = String::new();
    let lead = |referee: &str, code: &str, report: &mut String| -> Result<(), Box<dyn Error>> {
        let out = demo.send(SignUp::new(referee.parse()?, code))?;
        for r in &out.rewards {
            writeln!(report, "{:<8} {:>8}  {}", r.beneficiary, r.value.to_string(), r.explanation)?;
        }
        Ok(())
    };
    lead("ivan", &olga, &mut report)?;
    let code = demo.enroll("ivan")?;
    for i in 1..=5 {
        lead(&format!("firm-{i}"), &code, &mut report)?;
    }
    demo.send_as("order-1", Purchase::new("firm-1".parse()?, "inv-1".parse()?, "9900 RUB".parse()?))?;
    writeln!(report, "-- firm-1 buys: ivan's conversion is now 1 sale / 5 leads = 20% --")?;
    for i in 6..=7 {
        lead(&format!("firm-{i}"), &code, &mut report)?;
    }
    for who in ["olga", "ivan"] {
        writeln!(report, "{who}: {} RUB available", demo.available(who, "RUB")?)?;
    }
    Ok((demo.engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
