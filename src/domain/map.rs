//! [`Map`]: the small sorted map records keep (balances per asset, counts
//! per name), so that a record's public fields promise no third-party type.

use std::borrow::Borrow;
use std::fmt;

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

/// A small map sorted by key, as records keep them: a participant's balances
/// per asset, a program's counts per rejection reason, channel or variant.
///
/// Its serde form is that of the records written so far, kept by a test;
/// its `Debug` is a map's (`{"velocity": 1}`).
///
/// ```
/// use referral_engine::domain::map::Map;
/// let mut rejected: Map<String, u64> = Map::new();
/// rejected.insert("velocity".to_owned(), 2);
/// assert_eq!(rejected.get("velocity"), Some(&2));
/// assert_eq!(format!("{rejected:?}"), r#"{"velocity": 2}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
#[serde(bound(serialize = "K: Serialize, V: Serialize"))]
#[serde(bound(deserialize = "K: Ord + Deserialize<'de>, V: Deserialize<'de>"))]
pub struct Map<K, V>(LiteMap<K, V>);

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Self(LiteMap::new())
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Map<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl<K, V> Map<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.keys()
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.values()
    }
}

impl<K: Ord, V> Map<K, V> {
    /// The value under a key.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0.get(key)
    }

    /// The value under a key, to change.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.0.get_mut(key)
    }

    /// Whether a key is present.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(key)
    }

    /// Puts a value under a key; the value it replaces, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.0.insert(key, value)
    }

    /// The value under a key, made with `make` first if absent.
    pub(crate) fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.0.entry(key).or_insert_with(make)
    }

    /// The value under a key, made with `V::default()` first if absent.
    pub(crate) fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        self.get_or_insert_with(key, V::default)
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for Map<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<K, V> IntoIterator for Map<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a Map<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Box<dyn Iterator<Item = (&'a K, &'a V)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.0.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_serde_form_records_were_written_in() {
        // The form of format-4 records (`ProgramState::redeemed_items`,
        // `Counters::rejected`): a sequence of pairs, sorted by key.
        let map: Map<String, u64> = [("mug".to_owned(), 2), ("cap".to_owned(), 1)].into_iter().collect();
        let written = serde_json::to_string(&map).unwrap();
        let litemap: LiteMap<String, u64> = [("mug".to_owned(), 2), ("cap".to_owned(), 1)].into_iter().collect();
        assert_eq!(written, serde_json::to_string(&litemap).unwrap());
        assert_eq!(serde_json::from_str::<Map<String, u64>>(&written).unwrap(), map);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["cap", "mug"]);
    }
}
