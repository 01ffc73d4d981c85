//! Moe Delo (tiered and multi-level, RUB): 300 RUB per qualified lead, 350 once
//! the referrer's lead-to-sale conversion is above 10%, and 10 RUB to the
//! referrer's own referrer for each second-level lead.
//!
//! Run: `cargo run --example moe_delo`

use referral_engine::event::{Enroll, Purchase, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

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
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let clock = ManualClock::new("2026-03-01T09:00:00Z".parse()?);
    let engine = Engine::new(MemoryStore::new()).with_clock(clock).with_program(program);
    let mut n = 0;
    let mut send = |kind: EventKind| {
        n += 1;
        engine.handle(&Event::new(&format!("event-{n}"), "moe_delo", kind)?)?.map_err(referral_engine::Error::from)
    };
    let mut enroll = |who: &str| -> Result<String, Box<dyn Error>> {
        let out = send(Enroll::new(who.parse()?).into())?;
        Ok(out.codes.first().ok_or("no code issued")?.to_string())
    };
    let olga = enroll("olga")?;
    let mut report = String::new();
    let mut lead = |referee: &str, code: &str, report: &mut String| -> Result<(), Box<dyn Error>> {
        let out = send(SignUp::new(referee.parse()?, code).into())?;
        for r in &out.rewards {
            writeln!(report, "{:<8} {:>8}  {}", r.beneficiary, r.value.to_string(), r.explanation)?;
        }
        Ok(())
    };
    lead("ivan", &olga, &mut report)?;
    let code = {
        let out = engine.handle(&Event::new("enroll-ivan", "moe_delo", Enroll::new("ivan".parse()?))?)??;
        out.codes.first().ok_or("no code issued")?.to_string()
    };
    for i in 1..=5 {
        lead(&format!("firm-{i}"), &code, &mut report)?;
    }
    engine.handle(&Event::new(
        "order-1",
        "moe_delo",
        Purchase::new("firm-1".parse()?, "inv-1".parse()?, "9900 RUB".parse()?),
    )?)??;
    writeln!(report, "-- firm-1 buys: ivan's conversion is now 1 sale / 5 leads = 20% --")?;
    for i in 6..=7 {
        lead(&format!("firm-{i}"), &code, &mut report)?;
    }
    let program = "moe_delo".parse()?;
    let rub = "RUB".parse()?;
    for who in ["olga", "ivan"] {
        writeln!(report, "{who}: {} RUB available", engine.read(&program).balance(&who.parse()?, &rub)?.available)?;
    }
    Ok((engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
