//! Reading through a store while recording what was read, then turning the
//! decision into one [`Commit`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::Error;
use crate::event::StoredEvent;
use crate::store::{Commit, Key, Record, RecordKey, RecordKind, RecordRange, Store, StoreError, Versioned, Write};

/// The read set and write set of one decision, or of a batch of them.
///
/// Records are shared (`Arc`) between the store, the read set and the write
/// set; a decision takes its own copy of a record only when it reads it.
///
/// The writes are kept in layers. In a batch, each event decides in a layer
/// of its own on top of the writes of the events before it
/// ([`Tx::begin`]); an accepted event's layer is folded into the one below
/// ([`Tx::keep`]), a refused one's is dropped whole ([`Tx::drop_to`]), so
/// there is nothing to undo. Its reads stay in the read set: they can only
/// make the commit stricter. A single event needs no layer of its own: if it
/// is refused, nothing is committed.
pub(crate) struct Tx<'s> {
    store: &'s dyn Store,
    seen: BTreeMap<Key, (u64, Option<Arc<Record>>)>,
    /// Fetched ahead by [`Tx::prefetch`]: a record joins the read set only
    /// when it is read, so fetching one that goes unused adds no condition.
    ahead: HashMap<Key, Option<Versioned>>,
    /// The write layers, the newest last; never empty.
    layers: Vec<BTreeMap<Key, Option<Arc<Record>>>>,
}

/// A layer of writes to keep or drop: see [`Tx::begin`].
#[must_use]
pub(crate) struct Layer(usize);

pub(crate) fn wrong_kind(key: &Key) -> Error {
    Error::Store(StoreError::Corrupt {
        key: key.to_string(),
        reason: "holds a record of another type than its key space declares".into(),
    })
}

impl<'s> Tx<'s> {
    pub(crate) fn new(store: &'s dyn Store) -> Self {
        Self { store, seen: BTreeMap::new(), ahead: HashMap::new(), layers: vec![BTreeMap::new()] }
    }

    /// Where this set reads.
    pub(crate) fn store(&self) -> &'s dyn Store {
        self.store
    }

    /// Starts a layer: the writes from here on can be kept or dropped whole.
    pub(crate) fn begin(&mut self) -> Layer {
        self.layers.push(BTreeMap::new());
        Layer(self.layers.len().saturating_sub(1))
    }

    /// Keeps the writes of `layer` (and of any begun after it): they join
    /// the layer below.
    pub(crate) fn keep(&mut self, layer: Layer) {
        while self.layers.len() > layer.0.max(1) {
            let Some(top) = self.layers.pop() else { break };
            if let Some(below) = self.layers.last_mut() {
                if below.is_empty() {
                    *below = top;
                } else {
                    below.extend(top);
                }
            }
        }
    }

    /// Drops the writes of `layer` (and of any begun after it).
    pub(crate) fn drop_to(&mut self, layer: Layer) {
        self.layers.truncate(layer.0.max(1));
    }

    /// The write this set holds for `key`, newest layer first: `Some(None)`
    /// is a deletion.
    fn written(&self, key: &Key) -> Option<&Option<Arc<Record>>> {
        self.layers.iter().rev().find_map(|layer| layer.get(key))
    }

    fn write(&mut self, key: Key, record: Option<Arc<Record>>) {
        if let Some(top) = self.layers.last_mut() {
            top.insert(key, record);
        }
    }

    fn load(&mut self, key: &Key) -> Result<Option<Arc<Record>>, Error> {
        if let Some(w) = self.written(key) {
            return Ok(w.clone());
        }
        if let Some((_, r)) = self.seen.get(key) {
            return Ok(r.clone());
        }
        let found = match self.ahead.remove(key) {
            Some(found) => found,
            None => self.store.get(key)?,
        };
        let (version, record) = found.map_or((0, None), |v| (v.version, Some(v.record)));
        self.seen.insert(key.clone(), (version, record.clone()));
        Ok(record)
    }

    /// Fetches, in one store call, those of `keys` this set has not read yet,
    /// for reads to come (one round trip instead of one per key).
    pub(crate) fn prefetch(&mut self, keys: impl IntoIterator<Item = Key>) -> Result<(), Error> {
        let wanted: Vec<Key> = keys
            .into_iter()
            .filter(|k| !self.seen.contains_key(k) && self.written(k).is_none() && !self.ahead.contains_key(k))
            .collect();
        if wanted.len() < 2 {
            return Ok(());
        }
        let found = self.store.get_many(&wanted)?;
        self.ahead.extend(wanted.into_iter().zip(found));
        Ok(())
    }

    /// Calls `f` on each record under `keys`, in order, as this set sees
    /// them (`None`: absent), without copying them. Those not read yet are
    /// fetched in one store call and join the read set at once (absent ones
    /// too), with no stop in the fetched-ahead map: for reads that will all
    /// be made, such as every shard of a counter.
    pub(crate) fn read_many<T: RecordKind>(
        &mut self,
        keys: &[RecordKey<T>],
        mut f: impl FnMut(Option<&T>),
    ) -> Result<(), Error> {
        let unread: Vec<bool> = keys
            .iter()
            .map(|k| {
                let k = k.key();
                !self.seen.contains_key(k) && self.written(k).is_none() && !self.ahead.contains_key(k)
            })
            .collect();
        let wanted: Vec<Key> = keys.iter().zip(&unread).filter(|(_, u)| **u).map(|(k, _)| k.key().clone()).collect();
        let mut fetched = if wanted.is_empty() { vec![] } else { self.store.get_many(&wanted)? }.into_iter();
        for (key, unread) in keys.iter().zip(unread) {
            if !unread {
                self.read_with(key, &mut f)?;
                continue;
            }
            let (version, record) = fetched.next().flatten().map_or((0, None), |v| (v.version, Some(v.record)));
            match &record {
                Some(r) => f(Some(T::from_ref(r).ok_or_else(|| wrong_kind(key.key()))?)),
                None => f(None),
            }
            self.seen.insert(key.key().clone(), (version, record));
        }
        Ok(())
    }

    /// The record under `key`, as this decision sees it.
    pub(crate) fn get<T: RecordKind>(&mut self, key: &RecordKey<T>) -> Result<Option<T>, Error> {
        self.read_with(key, |found: Option<&T>| found.cloned())
    }

    /// What `f` makes of the record under `key` (`None`: absent), without
    /// copying it; the key joins the read set as with [`Self::get`].
    pub(crate) fn read_with<T: RecordKind, R>(
        &mut self,
        key: &RecordKey<T>,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> Result<R, Error> {
        let key = key.key();
        let Some(record) = self.load(key)? else { return Ok(f(None)) };
        Ok(f(Some(T::from_ref(&record).ok_or_else(|| wrong_kind(key))?)))
    }

    /// Changes the record under `key` in place with `f` (`None`: absent,
    /// and `f` is not called). The record is copied at most once per layer
    /// (from the layer below, or from what was read), however many times
    /// the event changes it; the change is the layer's write for the key.
    pub(crate) fn update<T: RecordKind, R>(
        &mut self,
        key: &RecordKey<T>,
        f: impl FnOnce(&mut T) -> Result<R, Error>,
    ) -> Result<Option<R>, Error> {
        let key = key.key();
        let in_top = self.layers.last().is_some_and(|top| top.contains_key(key));
        if !in_top {
            let Some(current) = self.load(key)? else { return Ok(None) };
            self.write(key.clone(), Some(current));
        }
        let Some(Some(record)) = self.layers.last_mut().and_then(|top| top.get_mut(key)) else {
            return Ok(None);
        };
        let record = T::from_mut(Arc::make_mut(record)).ok_or_else(|| wrong_kind(key))?;
        f(record).map(Some)
    }

    /// Writes a record over one that was read (or is known absent).
    pub(crate) fn put<T: RecordKind>(&mut self, key: RecordKey<T>, value: T) -> Result<(), Error> {
        let key = key.into_key();
        if !self.seen.contains_key(&key) {
            self.load(&key)?;
        }
        self.write(key, Some(Arc::new(value.into_record())));
        Ok(())
    }

    /// Writes a record under a key no record can have yet (a fresh id).
    pub(crate) fn put_new<T: RecordKind>(&mut self, key: RecordKey<T>, value: T) {
        let key = key.into_key();
        self.seen.entry(key.clone()).or_insert((0, None));
        self.write(key, Some(Arc::new(value.into_record())));
    }

    /// Removes a record that was read.
    pub(crate) fn delete<T>(&mut self, key: RecordKey<T>) -> Result<(), Error> {
        let key = key.into_key();
        if !self.seen.contains_key(&key) {
            self.load(&key)?;
        }
        self.write(key, None);
        Ok(())
    }

    /// Up to `limit` records in range, recording each as read.
    pub(crate) fn scan<T: RecordKind>(
        &mut self,
        range: &RecordRange<T>,
        limit: usize,
    ) -> Result<Vec<(RecordKey<T>, T)>, Error> {
        let mut out = Vec::new();
        self.scan_with(range, limit, |key, record: &T| out.push((RecordKey::new(key.clone()), record.clone())))?;
        Ok(out)
    }

    /// Calls `f` on each of up to `limit` records in range, as this set sees
    /// them, without copying them; each joins the read set. Returns how many
    /// the store held (this set's deletions included).
    pub(crate) fn scan_with<T: RecordKind>(
        &mut self,
        range: &RecordRange<T>,
        limit: usize,
        mut f: impl FnMut(&Key, &T),
    ) -> Result<usize, Error> {
        let range = range.range();
        if range.is_empty() {
            return Ok(0);
        }
        let found = self.store.scan(range, limit)?;
        let stored = found.len();
        // Records this set created in the range, which the store does not hold
        // yet (an earlier event of the batch wrote them): merged in, in key
        // order, so that a batch sees what the same events one by one would.
        let mut in_range: BTreeMap<&Key, &Option<Arc<Record>>> = BTreeMap::new();
        for layer in &self.layers {
            in_range.extend(layer.range(range.start.clone()..range.end.clone()));
        }
        let created: Vec<(Key, Arc<Record>)> = in_range
            .into_iter()
            .filter(|(k, _)| found.binary_search_by(|(stored, _)| stored.cmp(k)).is_err())
            .filter_map(|(k, r)| r.as_ref().map(|r| (k.clone(), Arc::clone(r))))
            .collect();
        let mut created = created.into_iter().peekable();
        let mut found = found.into_iter().peekable();
        let mut seen = 0usize;
        while seen < limit {
            let take_created = match (found.peek(), created.peek()) {
                (Some((stored, _)), Some((new, _))) => new < stored,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => break,
            };
            seen = seen.saturating_add(1);
            if take_created {
                if let Some((key, record)) = created.next() {
                    f(&key, T::from_ref(&record).ok_or_else(|| wrong_kind(&key))?);
                }
                continue;
            }
            let Some((key, v)) = found.next() else { break };
            let current = match self.written(&key) {
                Some(None) => None,
                Some(Some(r)) => Some(Arc::clone(r)),
                None => Some(Arc::clone(&v.record)),
            };
            if !self.seen.contains_key(&key) {
                self.seen.insert(key.clone(), (v.version, Some(v.record)));
            }
            if let Some(record) = current {
                f(&key, T::from_ref(&record).ok_or_else(|| wrong_kind(&key))?);
            }
        }
        Ok(stored)
    }

    pub(crate) fn into_commit(mut self, events: Vec<StoredEvent>) -> Commit {
        self.keep(Layer(1));
        let reads = self.seen.into_iter().map(|(k, (v, _))| (k, v)).collect();
        let writes = self
            .layers
            .pop()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, r)| match r {
                Some(r) => Write::Put(k, r),
                None => Write::Delete(k),
            })
            .collect();
        Commit { events, reads, writes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::counters::Counters;
    use crate::store::MemoryStore;

    fn counters(signups: u64) -> Counters {
        Counters { signups, ..Counters::default() }
    }

    fn key(text: &str) -> RecordKey<Counters> {
        RecordKey::new(Key::from_stored(text.into()))
    }

    fn signups(tx: &mut Tx<'_>, key: &RecordKey<Counters>) -> Option<u64> {
        tx.get::<Counters>(key).unwrap().map(|s| s.signups)
    }

    #[test]
    fn a_dropped_layer_takes_back_its_writes_and_only_those() {
        let store = MemoryStore::new();
        let mut tx = Tx::new(&store);
        let (a, b, c) = (key("a"), key("b"), key("c"));
        tx.put_new(a.clone(), counters(1));
        let kept = tx.begin();
        tx.put_new(c.clone(), counters(5));
        tx.keep(kept);
        let dropped = tx.begin();
        tx.put(a.clone(), counters(2)).unwrap();
        tx.put_new(b.clone(), counters(3));
        let inner = tx.begin();
        tx.delete(a.clone()).unwrap();
        assert_eq!(signups(&mut tx, &a), None);
        tx.keep(inner);
        assert_eq!(signups(&mut tx, &a), None);
        tx.drop_to(dropped);
        assert_eq!(signups(&mut tx, &a), Some(1));
        assert_eq!(signups(&mut tx, &b), None);
        assert_eq!(signups(&mut tx, &c), Some(5));
        let commit = tx.into_commit(vec![]);
        assert_eq!(commit.writes.iter().map(|w| w.key().clone()).collect::<Vec<_>>(), vec![a.into_key(), c.into_key()]);
    }

    #[test]
    fn an_update_changes_in_place_and_a_dropped_layer_takes_it_back() {
        let store = MemoryStore::new();
        let mut tx = Tx::new(&store);
        let (a, absent) = (key("a"), key("absent"));
        tx.put_new(a.clone(), counters(1));
        let layer = tx.begin();
        let bump = |c: &mut Counters| {
            c.signups += 1;
            Ok(c.signups)
        };
        assert_eq!(tx.update(&a, bump).unwrap(), Some(2));
        assert_eq!(tx.update(&a, bump).unwrap(), Some(3));
        assert_eq!(tx.update(&absent, bump).unwrap(), None, "nothing to change: f is not called");
        assert_eq!(signups(&mut tx, &a), Some(3));
        tx.drop_to(layer);
        assert_eq!(signups(&mut tx, &a), Some(1), "the layer below kept its own copy");
        let kept = tx.begin();
        assert_eq!(tx.update(&a, bump).unwrap(), Some(2));
        tx.keep(kept);
        let commit = tx.into_commit(vec![]);
        assert_eq!(commit.writes.len(), 1, "one write for the key");
        assert_eq!(commit.reads, vec![(a.into_key(), 0), (absent.into_key(), 0)]);
    }

    #[test]
    fn a_prefetched_record_joins_the_read_set_only_when_read() {
        let store = MemoryStore::new();
        let (a, b, c) = (key("a"), key("b"), key("c"));
        let mut setup = Tx::new(&store);
        setup.put_new(a.clone(), counters(7));
        store.commit(&setup.into_commit(vec![])).unwrap();

        let mut tx = Tx::new(&store);
        tx.prefetch([a.key().clone(), b.key().clone(), c.into_key()]).unwrap();
        assert_eq!(signups(&mut tx, &a), Some(7));
        assert_eq!(signups(&mut tx, &b), None);
        let commit = tx.into_commit(vec![]);
        // c was fetched and never read: no condition on it.
        assert_eq!(commit.reads, vec![(a.into_key(), 1), (b.into_key(), 0)]);
    }
}
