//! A month of a referral program, then a referrer's dashboard and the
//! program's report, both read from counters kept with every event.
//!
//! Run: `cargo run --example dashboard`

use referral_engine::event::{Enroll, InviteSent, Purchase, SignUp};
use std::error::Error;
use std::fmt::Write as _;

use chrono::{Duration, NaiveDate};
use referral_engine::domain::code::{Channel, RandomSource, SeededRandom, ShareLink};
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ProgramSpec};

const PROGRAM: &str = r#"{
    "id": "app", "name": "App referrals", "currency": "USD",
    "qualification": {"first_purchase": {"minimum": "10.00"}},
    "qualification_window_days": 14,
    "hold_days": 7,
    "policies": [
        {"type": "two_sided", "name": "welcome",
         "referrer": {"on": "qualified", "reward": {"fixed": "15.00 USD"}},
         "referee":  {"on": "qualified", "reward": {"fixed": "10.00 USD"}}},
        {"type": "tiered", "name": "ambassador", "on": "qualified", "basis": "qualified_count",
         "tiers": [{"threshold": "1", "reward": {"fixed": "10 points"}},
                   {"threshold": "5", "reward": {"fixed": "25 points"}},
                   {"threshold": "15", "reward": {"fixed": "50 points"}}]}
    ]
}"#;

/// Simulates 30 days; returns the engine and the printed dashboard and report.
pub fn run() -> Result<(Engine<MemoryStore>, String), Box<dyn Error>> {
    let program = serde_json::from_str::<ProgramSpec>(PROGRAM)?.build()?;
    let start = "2026-06-01T08:00:00Z".parse()?;
    let clock = ManualClock::new(start);
    let dice = SeededRandom::new(2026);
    let engine = Engine::new(MemoryStore::new())
        .with_clock(clock.clone())
        .with_random(SeededRandom::new(1))
        .with_program(program);
    let mut n = 0;
    let mut send = |kind: EventKind| {
        n += 1;
        engine.handle(&Event::new(&format!("event-{n}"), "app", kind)?)?.map_err(referral_engine::Error::from)
    };
    let referrers = ["maya", "noah", "olly", "pia", "quinn"];
    let mut codes = Vec::new();
    for r in referrers {
        codes.push(send(Enroll::new(r.parse()?).into())?.codes.first().ok_or("no code")?.to_string());
    }
    let channels = [Channel::Email, Channel::Social, Channel::Sms, Channel::Link];
    let mut friends = 0;
    for _day in 0..30 {
        for (i, r) in referrers.iter().enumerate() {
            // Maya shares a lot; the others less.
            let invites = if i == 0 { 3 } else { dice.next_u64() % 2 };
            for _ in 0..invites {
                let channel = channels[(dice.next_u64() % 4) as usize].clone();
                send(InviteSent::new(r.parse()?).via(channel.clone()).into())?;
                if dice.next_u64() % 100 < 40 {
                    friends += 1;
                    let friend = format!("friend-{friends}");
                    let code = codes[i].clone();
                    send(SignUp::new(friend.parse()?, code).via(channel).into())?;
                    if dice.next_u64() % 100 < 60 {
                        let cents = 500 + (dice.next_u64() % 9000) as i64;
                        let amount = format!("{}.{:02} USD", cents / 100, cents % 100).parse()?;
                        send(Purchase::new(friend.parse()?, format!("order-{friends}").parse()?, amount).into())?;
                    }
                }
            }
        }
        clock.advance(Duration::days(1));
        send(EventKind::Tick)?;
    }

    let program = "app".parse()?;
    let mut out = String::new();
    let links = ShareLink::new("https://app.example/join");
    let d = engine
        .read(&program)
        .dashboard(&"maya".parse()?, Some(&links), &[Channel::Email, Channel::Social])?
        .ok_or("maya is not a participant")?;
    writeln!(out, "== dashboard: {} ==", d.participant)?;
    writeln!(
        out,
        "invites {}  sign-ups {}  qualified {}  conversion {}%",
        d.invites,
        d.signups,
        d.qualified,
        d.conversion.unwrap_or_default()
    )?;
    for b in &d.balances {
        writeln!(
            out,
            "{:<8} pending {:>8}  available {:>8}  paid {:>6}",
            b.asset.to_string(),
            b.pending,
            b.available,
            b.paid
        )?;
    }
    for t in &d.tiers {
        let next = t.next.map_or("top tier".to_owned(), |n| format!("next tier at {n}"));
        writeln!(out, "tier `{}`: {} qualified, {next}", t.rule, t.measure)?;
    }
    for (channel, link) in &d.links {
        writeln!(out, "{:<7} {link}", channel.tag())?;
    }

    let from = NaiveDate::from_ymd_opt(2026, 6, 1).ok_or("bad date")?;
    let to = NaiveDate::from_ymd_opt(2026, 6, 30).ok_or("bad date")?;
    let r = engine.read(&program).report(from, to)?;
    let pct = |x: Option<rust_decimal::Decimal>| x.map_or("-".to_owned(), |x| format!("{x}%"));
    writeln!(out, "\n== report {from} .. {to} ==")?;
    let c = &r.counters;
    writeln!(
        out,
        "funnel: {} invites -> {} sign-ups ({}) -> {} qualified ({})",
        c.invites,
        c.signups,
        pct(r.invite_to_signup),
        c.qualified,
        pct(r.signup_to_qualified)
    )?;
    for (channel, f) in &r.channels {
        writeln!(
            out,
            "  {channel:<7} {:>3} sign-ups  {:>3} qualified  {}",
            f.funnel.signups,
            f.funnel.qualified,
            pct(f.conversion)
        )?;
    }
    writeln!(out, "K-factor {} ({} inviting referrers)", r.k_factor.unwrap_or_default(), r.inviters)?;
    for (asset, cost) in &r.cost {
        writeln!(out, "cost: {cost} {asset}")?;
    }
    writeln!(out, "revenue {} USD, return on spend {}", r.revenue, pct(r.return_on_spend))?;
    let rejected: Vec<String> = c.rejected.iter().map(|(reason, n)| format!("{n} ({reason})")).collect();
    let rejected = if rejected.is_empty() { "none".to_owned() } else { rejected.join(", ") };
    writeln!(out, "expired {}, rejected {rejected}", c.expired)?;
    for (who, q) in &r.top_referrers {
        writeln!(out, "  top: {who:<6} {q} qualified")?;
    }
    writeln!(out, "the top referrers brought {} of qualified referrals", pct(r.top_share))?;
    Ok((engine, out))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let (_, out) = run()?;
    print!("{out}");
    Ok(())
}
