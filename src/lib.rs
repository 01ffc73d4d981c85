// The README's links to files of the repository, defined before the README
// (the first definition of a name wins) so that they work on docs.rs: files
// in the published crate's source view, the chart inline.
#![doc = concat!("[architecture]: https://docs.rs/crate/referral-engine/", env!("CARGO_PKG_VERSION"), "/source/ARCHITECTURE.md")]
#![doc = "[program-files]: crate::guide::program_files"]
#![doc = concat!("[spec]: https://docs.rs/crate/referral-engine/", env!("CARGO_PKG_VERSION"), "/source/tests/spec.rs")]
#![doc = concat!("[spec-programs]: https://docs.rs/crate/referral-engine/", env!("CARGO_PKG_VERSION"), "/source/tests/spec_programs.rs")]
#![doc = concat!("[findings]: https://docs.rs/crate/referral-engine/", env!("CARGO_PKG_VERSION"), "/source/tests/findings.rs")]
#![doc = concat!("[testkit]: https://docs.rs/crate/referral-engine/", env!("CARGO_PKG_VERSION"), "/source/src/testkit.rs")]
#![doc = concat!("[forecast-chart]: ", include_str!(concat!(env!("OUT_DIR"), "/forecast-chart.uri")))]
#![doc = ""]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

pub mod clock;
pub mod domain;
pub mod engine;
pub mod error;
pub mod event;
pub mod fraud;
pub mod guide;
pub mod insight;
pub mod policy;
pub mod program;
pub mod simulation;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use clock::{Clock, ManualClock};
pub use domain::id::ParticipantId;
pub use domain::value::Value;
pub use engine::Engine;
pub use error::{Error, Refusal};
pub use event::{Event, EventKind, Notice, Outcome};
pub use program::{Program, ProgramSpec};
pub use store::{MemoryStore, Store};
