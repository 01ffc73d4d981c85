//! The benchmarks of referral-engine live in this crate's bench targets
//! (`cargo bench -p referral-engine-benches`); see BENCHMARKS.md.
