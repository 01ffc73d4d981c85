//! The redemption catalog: items priced in points.

use serde::{Deserialize, Serialize};

use super::value::Value;

/// An item participants can redeem points for.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CatalogItem {
    /// The item's id ("tshirt").
    pub id: String,
    /// Its price (an amount of points, usually).
    pub price: Value,
    /// How many can be redeemed in all, if limited.
    #[serde(default)]
    pub stock: Option<u64>,
    /// What it gives, if the engine should record it (1 entitlement:premium_month).
    #[serde(default)]
    pub gives: Option<Value>,
}

impl CatalogItem {
    /// An item with unlimited stock.
    pub fn new(id: impl Into<String>, price: Value) -> Self {
        Self { id: id.into(), price, stock: None, gives: None }
    }

    /// Limits the stock.
    pub fn with_stock(mut self, stock: u64) -> Self {
        self.stock = Some(stock);
        self
    }

    /// Records what the item gives in the participant's ledger.
    pub fn giving(mut self, value: Value) -> Self {
        self.gives = Some(value);
        self
    }
}
