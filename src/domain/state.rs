//! Program-wide state: catalog stock used; and payout batches, one record
//! each.

use serde::{Deserialize, Serialize};

/// Program-wide state that an event reads before it changes it: catalog stock
/// used. (Counters live apart, in shards: see
/// [`Counters`](crate::domain::counters::Counters); payout batches in
/// records of their own: [`PayoutBatch`].)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProgramState {
    /// Catalog items redeemed, by id.
    pub redeemed_items: crate::domain::map::Map<String, u64>,
}

/// One payout batch, under its id: paid a page of participants at a time,
/// it keeps where it stopped; paid to the end, it keeps that it was, so the
/// same id is never paid again. A record per batch (data format 3; before,
/// every id lived in [`ProgramState`] and was read by every payout and
/// redemption for ever).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PayoutBatch {
    /// The key of the last participant paid while the batch is under way;
    /// none once it is paid to the end.
    pub resume_after: Option<String>,
}

impl PayoutBatch {
    /// A batch under way, stopped after the participant keyed `key`.
    pub fn under_way(key: String) -> Self {
        Self { resume_after: Some(key) }
    }

    /// A batch paid to the end.
    pub fn finished() -> Self {
        Self { resume_after: None }
    }

    /// Whether it was paid to the end.
    pub fn is_finished(&self) -> bool {
        self.resume_after.is_none()
    }
}
