//! Dropbox: 500 MB to each side when the friend installs the app; a referrer
//! is rewarded for at most 32 friends.
//!
//! One referrer brings 40 friends who all install: she ends with 16000 MB
//! (32 rewarded, the other 8 recorded as over the cap), each friend with 500 MB.
//!
//! Run: `cargo run --example dropbox`

use referral_engine::event::{Action, Enroll, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use referral_engine::domain::referral::ReferralStatus;
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, Notice, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "dropbox", "name": "Dropbox Space Race", "currency": "USD",
    "qualification": {"action": "installed"},
    "limits": {"max_rewarded_referrals": 32},
    "policies": [{"type": "two_sided", "name": "space",
        "referrer": {"on": "qualified", "reward": {"fixed": "500 unit:MB"}},
        "referee":  {"on": "qualified", "reward": {"fixed": "500 unit:MB"}}}]
}"#;

/// Runs the scenario; returns the engine (for checks) and the printed report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let clock = ManualClock::new("2026-03-01T09:00:00Z".parse()?);
    let engine = Engine::new(MemoryStore::new()).with_clock(clock).with_program(program);
    let mut n = 0;
    let mut send = |kind: EventKind| {
        n += 1;
        engine.handle(&Event::new(&format!("event-{n}"), "dropbox", kind)?)?.map_err(referral_engine::Error::from)
    };

    let enrolled = send(Enroll::new("alice".parse()?).into())?;
    let code = enrolled.codes.first().ok_or("no code issued")?.to_string();
    let mut over_cap = 0;
    for i in 1..=40 {
        let friend = format!("friend-{i:02}");
        send(SignUp::new(friend.parse()?, code.clone()).into())?;
        let installed = send(Action::new(friend.parse()?, "installed").into())?;
        over_cap += installed.notices.iter().filter(|n| matches!(n, Notice::RewardWithheld { .. })).count();
    }

    let program = "dropbox".parse()?;
    let mb = "unit:MB".parse()?;
    let mut report = String::new();
    writeln!(report, "{:<10} {:<10} {:>10}", "referee", "status", "their MB")?;
    for r in engine.read(&program).referrals().all()? {
        let status = match r.status {
            ReferralStatus::Rewarded => "rewarded",
            ReferralStatus::Qualified => "over cap",
            _ => "other",
        };
        let theirs = engine.read(&program).balance(&r.referee, &mb)?.available;
        writeln!(report, "{:<10} {:<10} {:>10}", r.referee, status, theirs)?;
    }
    let alice = engine.read(&program).participant(&"alice".parse()?)?.ok_or("alice unknown")?;
    writeln!(
        report,
        "\nalice: {} MB from {} rewarded referrals; {over_cap} over the cap of 32",
        alice.balance(&mb).available,
        alice.stats.rewarded_referrals
    )?;
    Ok((engine, report))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, report) = run()?;
    print!("{report}");
    Ok(())
}
