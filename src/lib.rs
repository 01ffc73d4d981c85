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
