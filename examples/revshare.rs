//! Revenue share: the referrer earns 40% of each monthly payment for the first
//! 12 months after the friend qualifies.
//!
//! A friend pays 100.00 USD a month for 14 months: the referrer earns
//! 480.00 USD; refunding one of the rewarded months reverses 40.00 USD,
//! leaving 440.00 USD.
//!
//! Run: `cargo run --example revshare`

use referral_engine::event::{Enroll, Purchase, Refund, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use chrono::{DateTime, Months, Utc};
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "revshare", "name": "Partner revenue share", "currency": "USD",
    "qualification": {"first_purchase": {}},
    "policies": [{"type": "revenue_share", "name": "forty-percent", "percent": "40", "months": 12}]
}"#;

/// Runs the scenario; returns the engine, the balance before the refund, and the report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let start: DateTime<Utc> = "2026-01-15T12:00:00Z".parse()?;
    let clock = ManualClock::new(start);
    let engine = Engine::new(MemoryStore::new()).with_clock(clock.clone()).with_program(program);
    let send = |key: &str, kind: EventKind| {
        engine.handle(&Event::new(key, "revshare", kind)?)?.map_err(referral_engine::Error::from)
    };

    let enrolled = send("enroll", Enroll::new("rita".parse()?).into())?;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    send("signup", SignUp::new("acme".parse()?, code).into())?;

    let program = "revshare".parse()?;
    let (rita, usd) = ("rita".parse()?, "USD".parse()?);
    let mut report = String::new();
    writeln!(report, "{:<8} {:<12} {:>12} {:>14}", "month", "paid", "rita earns", "rita in total")?;
    for month in 0..14u32 {
        clock.set(start.checked_add_months(Months::new(month)).ok_or("date out of range")?);
        let out = send(
            &format!("payment-{month}"),
            Purchase::new("acme".parse()?, format!("inv-{month}").parse()?, "100.00 USD".parse()?).into(),
        )?;
        let earned = out.rewards.first().map_or("-".to_owned(), |r| r.value.to_string());
        let total = engine.read(&program).balance(&rita, &usd)?.available;
        writeln!(report, "{:<8} {:<12} {:>12} {:>14}", month + 1, "100.00 USD", earned, total)?;
    }
    send("refund-3", Refund::new("inv-3".parse()?, "100.00 USD".parse()?).into())?;
    let after = engine.read(&program).balance(&rita, &usd)?.available;
    writeln!(report, "refund of month 4 reverses 40.00 USD: rita has {after} USD")?;
    Ok((engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
