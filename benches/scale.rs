//! One-shot measurements at scale (not criterion: each runs once):
//! 1 million revenue-share payments, and the memory footprint of 1 million
//! participants in MemoryStore. See BENCHMARKS.md.

use referral_engine::event::{Acknowledge, Enroll, Purchase, SignUp};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use referral_engine::domain::code::SeededRandom;
use referral_engine::{Engine, Event, EventKind, ManualClock, MemoryStore, ParticipantId, ProgramSpec};

/// Counts live heap bytes.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn engine(json: &str) -> Engine<MemoryStore> {
    engine_on(json, &ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()))
}

fn engine_on(json: &str, clock: &ManualClock) -> Engine<MemoryStore> {
    let program = serde_json::from_str::<ProgramSpec>(json).unwrap().build().unwrap();
    Engine::new(MemoryStore::new()).with_clock(clock.clone()).with_random(SeededRandom::new(1)).with_program(program)
}

fn count() -> usize {
    std::env::var("SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000)
}

fn revshare_payments(n: usize) {
    let engine = engine(
        r#"{"id": "rs", "name": "RS", "currency": "USD", "qualification": {"first_purchase": {}},
            "policies": [{"type": "revenue_share", "name": "share", "percent": "2.5"}]}"#,
    );
    let kind: EventKind = Enroll::new("r".parse().unwrap()).with_vanity_code("RRRR").into();
    engine.handle(&Event::new("enroll", "rs", kind).unwrap()).unwrap().unwrap();
    let customers = 1_000;
    for c in 0..customers {
        engine
            .handle(
                &Event::new(&format!("s{c}"), "rs", SignUp::new(ParticipantId::new(format!("c{c}")).unwrap(), "RRRR"))
                    .unwrap(),
            )
            .unwrap()
            .unwrap();
    }
    let start = Instant::now();
    for i in 0..n {
        let customer = ParticipantId::new(format!("c{}", i % customers)).unwrap();
        let kind = Purchase::new(customer, format!("o{i}").parse().unwrap(), "19.99 USD".parse().unwrap());
        engine.handle(&Event::new(&format!("p{i}"), "rs", kind).unwrap()).unwrap().unwrap();
    }
    let took = start.elapsed();
    let earned =
        engine.read(&"rs".parse().unwrap()).balance(&"r".parse().unwrap(), &"USD".parse().unwrap()).unwrap().available;
    println!(
        "revenue share: {n} payments in {:.2} s ({:.0} payments/s, {:.2} µs each); referrer earned {earned} USD",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}

fn footprint(n: usize) {
    let before = LIVE.load(Ordering::Relaxed);
    // A program must reward something; this one rewards a first purchase,
    // and none is sent: the records are those of codes and referrals alone.
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let engine = engine_on(
        r#"{"id": "fp", "name": "FP", "currency": "USD", "qualification": {"first_purchase": {}},
            "policies": [{"type": "two_sided", "name": "bounty",
                "referrer": {"on": "qualified", "reward": {"fixed": "10.00 USD"}},
                "referee":  {"on": "qualified", "reward": {"fixed": "5.00 USD"}}}]}"#,
        &clock,
    );
    let enroll = |who: String, key: String| {
        let kind: EventKind = Enroll::new(ParticipantId::new(who).unwrap()).into();
        engine.handle(&Event::new(&key, "fp", kind).unwrap()).unwrap().unwrap().codes[0].to_string()
    };
    let mut code = enroll("root".into(), "e-root".into());
    let start = Instant::now();
    for i in 0..n {
        let who = format!("u{i}");
        engine
            .handle(
                &Event::new(
                    &format!("s{i}"),
                    "fp",
                    SignUp::new(ParticipantId::new(who.clone()).unwrap(), code.clone()),
                )
                .unwrap(),
            )
            .unwrap()
            .unwrap();
        code = enroll(who, format!("e{i}"));
    }
    // Past the retention window: the outcomes are forgotten (as ticks would),
    // the keys and digests kept.
    let past_retention = || {
        clock.advance(referral_engine::engine::DEFAULT_OUTCOME_RETENTION + chrono::TimeDelta::seconds(1));
        while engine.forget_outcomes().unwrap() > 0 {}
    };
    past_retention();
    let pending = LIVE.load(Ordering::Relaxed) - before;
    // The host delivers the outbox and acknowledges it, a page at a time,
    // as a running host does: acknowledged notifications leave the store.
    let program = "fp".parse().unwrap();
    for page in 0.. {
        let sent = engine.read(&program).notifications(1_000).unwrap();
        if sent.is_empty() {
            break;
        }
        let ack = Acknowledge::new(sent.into_iter().map(|n| n.id));
        engine.handle(&Event::new(&format!("ack{page}"), "fp", ack).unwrap()).unwrap().unwrap();
    }
    past_retention();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "footprint: {n} participants, outcomes past retention, outbox not yet delivered: {} bytes per participant",
        pending / n as isize
    );
    println!(
        "footprint: {n} participants, each with a code and one referral, outcomes past retention, outbox delivered: {:.0} MB live, {} bytes per participant ({:.1} s to build)",
        bytes as f64 / 1e6,
        bytes / n as isize,
        start.elapsed().as_secs_f64()
    );
    let read = Instant::now();
    let reads = 100_000;
    // The host holds its program's id, as it holds the map in the baseline.
    let program: referral_engine::domain::id::ProgramId = "fp".parse().unwrap();
    for i in 0..reads {
        std::hint::black_box(
            engine.read(&program).participant(&ParticipantId::new(format!("u{}", (i * 7919) % n)).unwrap()).unwrap(),
        );
    }
    let engine_read = read.elapsed().as_secs_f64() * 1e6 / reads as f64;
    drop(engine);
    // The baseline: a plain hash map of as many participants, each a small
    // fixed record, read the same way (spread over all of them).
    let plain: std::collections::HashMap<String, [u64; 8]> = (0..n).map(|i| (format!("u{i}"), [i as u64; 8])).collect();
    let read = Instant::now();
    for i in 0..reads {
        std::hint::black_box(plain.get(format!("u{}", (i * 7919) % n).as_str()));
    }
    let plain_read = read.elapsed().as_secs_f64() * 1e6 / reads as f64;
    println!(
        "dashboard read spread over {n} participants, after {} events: engine {engine_read:.2} µs each, plain hash map {plain_read:.2} µs, ratio {:.1}",
        2 * n,
        engine_read / plain_read
    );
}

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        revshare_payments(count());
        footprint(count());
    }
}
