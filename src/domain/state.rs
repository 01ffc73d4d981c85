//! Program-wide state: catalog stock used and payout batches.

use std::collections::{BTreeMap, BTreeSet};

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::domain::id::PayoutId;

/// Program-wide state that an event reads before it changes it: catalog stock
/// used and payout ids. (Counters live apart, in shards: see
/// [`Counters`](crate::domain::counters::Counters).)
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProgramState {
    /// Catalog items redeemed, by id.
    pub redeemed_items: LiteMap<String, u64>,
    /// Payout batch ids used (paid to the end).
    pub payouts: BTreeSet<PayoutId>,
    /// Payout batches under way, paid a page at a time: the key of the last
    /// participant each has reached.
    #[serde(default)]
    pub payout_cursors: BTreeMap<PayoutId, String>,
}
