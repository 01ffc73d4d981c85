//! Revenue share: the referrer earns 40% of each monthly payment for the first
//! 12 months after the friend qualifies.
//!
//! A friend pays 100.00 USD a month for 14 months: the referrer earns
//! 480.00 USD; refunding one of the rewarded months reverses 40.00 USD,
//! leaving 440.00 USD.
//!
//! Run: `cargo run --example revshare`

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::fmt::Write as _;

use chrono::{DateTime, Months, Utc};
use referral_engine::event::{Purchase, Refund, SignUp};
use referral_engine::{Engine, MemoryStore};

const PROGRAM: &str = r#"{
    "id": "revshare", "name": "Partner revenue share", "currency": "USD",
    "qualification": {"first_purchase": {}},
    "policies": [{"type": "revenue_share", "name": "forty-percent", "percent": "40", "months": 12}]
}"#;

/// Runs the scenario; returns the engine, the balance before the refund, and the report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let start: DateTime<Utc> = "2026-01-15T12:00:00Z".parse()?;
    let demo = common::Demo::new(PROGRAM, &start.to_rfc3339())?;
    let code = demo.enroll("rita")?;
    demo.send_as("signup", SignUp::new("acme".parse()?, code))?;

    let mut report = String::new();
    writeln!(report, "{:<8} {:<12} {:>12} {:>14}", "month", "paid", "rita earns", "rita in total")?;
    for month in 0..14u32 {
        demo.clock.set(start.checked_add_months(Months::new(month)).ok_or("date out of range")?);
        let out = demo.send_as(
            &format!("payment-{month}"),
            Purchase::new("acme".parse()?, format!("inv-{month}").parse()?, "100.00 USD".parse()?),
        )?;
        let earned = out.rewards.first().map_or("-".to_owned(), |r| r.value.to_string());
        let total = demo.available("rita", "USD")?;
        writeln!(report, "{:<8} {:<12} {:>12} {:>14}", month + 1, "100.00 USD", earned, total)?;
    }
    demo.send_as("refund-3", Refund::new("inv-3".parse()?, "100.00 USD".parse()?))?;
    let after = demo.available("rita", "USD")?;
    writeln!(report, "refund of month 4 reverses 40.00 USD: rita has {after} USD")?;
    Ok((demo.engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
