//! Per-event cost of the engine, each beside a baseline doing the least work
//! the same job takes, in the same run. See BENCHMARKS.md.

use referral_engine::event::SignUp;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

mod common;
use common::*;
use referral_engine::MemoryStore;

fn memory(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory: sign-up + qualifying purchase, two-sided");
    let engine = engine_with(MemoryStore::new(), TWO_SIDED);
    enroll(&engine, "bench", "alice", "ALICE");
    let mut n = 0;
    group.bench_function("engine", |b| {
        b.iter(|| {
            n += 1;
            signup_and_purchase(&engine, "bench", "ALICE", black_box(n));
        })
    });
    let mut base = Baseline::default();
    base.codes.insert("ALICE".into(), "alice".into());
    let mut m = 0;
    group.bench_function("baseline (hash maps)", |b| {
        b.iter(|| {
            m += 1;
            base.signup_and_purchase("ALICE", black_box(m));
        })
    });
    let mut same = SameFacts::default();
    same.codes.insert("ALICE".into(), "alice".into());
    let mut k = 0;
    group.bench_function("baseline (same facts, hash maps)", |b| {
        b.iter(|| {
            k += 1;
            same.signup_and_purchase("ALICE", black_box(k));
        })
    });
    group.finish();
}

fn multi_level(c: &mut Criterion) {
    let mut group = c.benchmark_group("multi-level: one qualifying sign-up at the bottom of a chain");
    for depth in [1u8, 3, 10] {
        let levels: Vec<String> =
            (1..=depth).map(|l| format!(r#"{{"level": {l}, "reward": {{"fixed": "1.00 USD"}}}}"#)).collect();
        let json = format!(
            r#"{{"id": "ml", "name": "ML", "currency": "USD",
                "policies": [{{"type": "multi_level", "name": "chain", "on": "qualified", "levels": [{}]}}]}}"#,
            levels.join(",")
        );
        let engine = engine_with(MemoryStore::new(), &json);
        // A chain of `depth` referrers: r0 <- r1 <- ... <- r{depth-1}.
        enroll(&engine, "ml", "r0", "CODE0");
        for i in 1..usize::from(depth) {
            engine
                .handle(&ev(
                    format!("chain-{i}"),
                    "ml",
                    SignUp::new(p(format!("r{i}")), format!("CODE{}", i - 1)).into(),
                ))
                .unwrap()
                .unwrap();
            enroll(&engine, "ml", &format!("r{i}"), &format!("CODE{i}"));
        }
        let code = format!("CODE{}", depth - 1);
        let mut n = 0;
        group.bench_with_input(BenchmarkId::new("depth", depth), &depth, |b, _| {
            b.iter(|| {
                n += 1;
                engine
                    .handle(&ev(format!("x{n}"), "ml", SignUp::new(p(format!("leaf-{n}")), code.as_str()).into()))
                    .unwrap()
                    .unwrap();
            })
        });
    }
    group.finish();
}

fn dashboard(c: &mut Criterion) {
    let mut group = c.benchmark_group("dashboard read (referrer record)");
    for events in [1_000u64, 100_000] {
        let engine = engine_with(MemoryStore::new(), TWO_SIDED);
        enroll(&engine, "bench", "alice", "ALICE");
        for n in 0..events / 2 {
            signup_and_purchase(&engine, "bench", "ALICE", n);
        }
        let (program, alice) = ("bench".parse().unwrap(), p("alice".into()));
        group.bench_with_input(BenchmarkId::new("after events", events), &events, |b, _| {
            b.iter(|| black_box(engine.read(&program).participant(&alice).unwrap()))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = memory, multi_level, dashboard }
criterion_main!(benches);
