//! Placeholder; the benchmarks land with the performance issue.
fn main() {}
