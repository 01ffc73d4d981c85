#![doc = include_str!("../README.md")]
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

pub use clock::{Clock, ManualClock, SystemClock};
pub use domain::catalog::CatalogItem;
pub use domain::code::{Channel, CodeError, OsRandom, RandomSource, ReferralCode, SeededRandom, ShareLink};
pub use domain::id::{EntryId, EventKey, IdError, OrderId, ParticipantId, PayoutId, ProgramId, ReferralId, RewardId};
pub use domain::ledger::{Balance, Bucket, EntryKind, LedgerEntry, Reversal, Reward, RewardStatus, Role};
pub use domain::participant::{Attribute, Attributes, Participant, ReferrerStats};
pub use domain::referral::{Referral, ReferralStatus, RejectReason, Transition};
pub use domain::value::{Asset, Currency, Rounding, Value, ValueError};
pub use engine::Engine;
pub use error::{Error, Refusal};
pub use event::{Event, EventKind, LimitReason, Notice, Outcome};
pub use program::{Program, ProgramError, ProgramSpec, ProgramStatus};
pub use store::{MemoryStore, Store, StoreError};
