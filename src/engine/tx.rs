//! Reading through a store while recording what was read, then turning the
//! decision into one [`Commit`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::Error;
use crate::store::{Commit, Key, KeyRange, Record, RecordKind, Store, StoreError, StoredEvent, Versioned, Write};

/// The read set and write set of one decision, or of a batch of them.
///
/// Records are shared (`Arc`) between the store, the read set and the write
/// set; a decision takes its own copy of a record only when it reads it.
///
/// In a batch, each event decides on top of the writes of the events before
/// it; [`Tx::mark`] and [`Tx::undo`] take back the writes of one that is
/// refused. Its reads stay in the read set: they can only make the commit
/// stricter.
pub(crate) struct Tx<'s> {
    store: &'s dyn Store,
    seen: BTreeMap<Key, (u64, Option<Arc<Record>>)>,
    /// Fetched ahead by [`Tx::prefetch`]: a record joins the read set only
    /// when it is read, so fetching one that goes unused adds no condition.
    ahead: HashMap<Key, Option<Versioned>>,
    writes: BTreeMap<Key, Option<Arc<Record>>>,
    /// For each write since the batch began, what the key held before it.
    undo: Option<Vec<Undo>>,
}

/// A key written and what the write set held for it before: nothing, or a
/// record or a deletion.
type Undo = (Key, Option<Option<Arc<Record>>>);

/// A point in a batch's writes to go back to.
pub(crate) struct Mark(usize);

fn wrong_kind(key: &Key) -> Error {
    Error::Store(StoreError::Corrupt { key: key.to_string(), reason: "record of another kind".into() })
}

impl<'s> Tx<'s> {
    pub(crate) fn new(store: &'s dyn Store) -> Self {
        Self { store, seen: BTreeMap::new(), ahead: HashMap::new(), writes: BTreeMap::new(), undo: Some(Vec::new()) }
    }

    /// Where this set reads.
    pub(crate) fn store(&self) -> &'s dyn Store {
        self.store
    }

    /// A read/write set for a batch: every write can be taken back.
    pub(crate) fn for_batch(store: &'s dyn Store) -> Self {
        Self { undo: Some(Vec::new()), ..Self::new(store) }
    }

    /// The point to [`undo`](Self::undo) back to.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.undo.as_ref().map_or(0, Vec::len))
    }

    /// Takes back every write made since `mark`.
    pub(crate) fn undo(&mut self, mark: Mark) {
        let Some(log) = &mut self.undo else { return };
        while log.len() > mark.0 {
            let Some((key, before)) = log.pop() else { break };
            match before {
                Some(record) => self.writes.insert(key, record),
                None => self.writes.remove(&key),
            };
        }
    }

    fn write(&mut self, key: Key, record: Option<Arc<Record>>) {
        match &mut self.undo {
            Some(log) => {
                let before = self.writes.insert(key.clone(), record);
                log.push((key, before));
            }
            None => {
                self.writes.insert(key, record);
            }
        }
    }

    fn load(&mut self, key: &Key) -> Result<Option<Arc<Record>>, Error> {
        if let Some(w) = self.writes.get(key) {
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
            .filter(|k| !self.seen.contains_key(k) && !self.writes.contains_key(k) && !self.ahead.contains_key(k))
            .collect();
        if wanted.len() < 2 {
            return Ok(());
        }
        let found = self.store.get_many(&wanted)?;
        self.ahead.extend(wanted.into_iter().zip(found));
        Ok(())
    }

    /// The record under `key`, as this decision sees it.
    pub(crate) fn get<T: RecordKind>(&mut self, key: &Key) -> Result<Option<T>, Error> {
        self.read_with(key, |found: Option<&T>| found.cloned())
    }

    /// What `f` makes of the record under `key` (`None`: absent), without
    /// copying it; the key joins the read set as with [`Self::get`].
    pub(crate) fn read_with<T: RecordKind, R>(
        &mut self,
        key: &Key,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> Result<R, Error> {
        let Some(record) = self.load(key)? else { return Ok(f(None)) };
        Ok(f(Some(T::from_ref(&record).ok_or_else(|| wrong_kind(key))?)))
    }

    /// Writes a record over one that was read (or is known absent).
    pub(crate) fn put<T: RecordKind>(&mut self, key: Key, value: T) -> Result<(), Error> {
        if !self.seen.contains_key(&key) {
            self.load(&key)?;
        }
        self.write(key, Some(Arc::new(value.into_record())));
        Ok(())
    }

    /// Writes a record under a key no record can have yet (a fresh id).
    pub(crate) fn put_new<T: RecordKind>(&mut self, key: Key, value: T) {
        self.seen.entry(key.clone()).or_insert((0, None));
        self.write(key, Some(Arc::new(value.into_record())));
    }

    /// Removes a record that was read.
    pub(crate) fn delete(&mut self, key: Key) -> Result<(), Error> {
        if !self.seen.contains_key(&key) {
            self.load(&key)?;
        }
        self.write(key, None);
        Ok(())
    }

    /// Up to `limit` records in range, recording each as read.
    pub(crate) fn scan<T: RecordKind>(&mut self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, T)>, Error> {
        let mut out = Vec::new();
        self.scan_with(range, limit, |key, record: &T| out.push((key.clone(), record.clone())))?;
        Ok(out)
    }

    /// Calls `f` on each of up to `limit` records in range, as this set sees
    /// them, without copying them; each joins the read set. Returns how many
    /// the store held (this set's deletions included).
    pub(crate) fn scan_with<T: RecordKind>(
        &mut self,
        range: &KeyRange,
        limit: usize,
        mut f: impl FnMut(&Key, &T),
    ) -> Result<usize, Error> {
        let found = self.store.scan(range, limit)?;
        let stored = found.len();
        // Records this set created in the range, which the store does not hold
        // yet (an earlier event of the batch wrote them): merged in, in key
        // order, so that a batch sees what the same events one by one would.
        let created: Vec<(Key, Arc<Record>)> = self
            .writes
            .range(range.start.clone()..range.end.clone())
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
            let current = match self.writes.get(&key) {
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

    pub(crate) fn into_commit(self, events: Vec<StoredEvent>) -> Commit {
        let reads = self.seen.into_iter().map(|(k, (v, _))| (k, v)).collect();
        let writes = self
            .writes
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
    use crate::store::{Counters, MemoryStore};

    fn counters(signups: u64) -> Counters {
        Counters { signups, ..Counters::default() }
    }

    fn signups(tx: &mut Tx<'_>, key: &Key) -> Option<u64> {
        tx.get::<Counters>(key).unwrap().map(|s| s.signups)
    }

    #[test]
    fn undo_takes_back_the_writes_since_the_mark_and_only_those() {
        let store = MemoryStore::new();
        let mut tx = Tx::for_batch(&store);
        let (a, b) = (Key::from_stored("a".into()), Key::from_stored("b".into()));
        tx.put_new(a.clone(), counters(1));
        let mark = tx.mark();
        tx.put(a.clone(), counters(2)).unwrap();
        tx.put_new(b.clone(), counters(3));
        tx.delete(a.clone()).unwrap();
        assert_eq!(signups(&mut tx, &a), None);
        tx.undo(mark);
        assert_eq!(signups(&mut tx, &a), Some(1));
        assert_eq!(signups(&mut tx, &b), None);
        let commit = tx.into_commit(vec![]);
        assert_eq!(commit.writes.len(), 1);
    }

    #[test]
    fn a_prefetched_record_joins_the_read_set_only_when_read() {
        let store = MemoryStore::new();
        let (a, b, c) = (Key::from_stored("a".into()), Key::from_stored("b".into()), Key::from_stored("c".into()));
        let mut setup = Tx::new(&store);
        setup.put_new(a.clone(), counters(7));
        store.commit(&setup.into_commit(vec![])).unwrap();

        let mut tx = Tx::new(&store);
        tx.prefetch([a.clone(), b.clone(), c.clone()]).unwrap();
        assert_eq!(signups(&mut tx, &a), Some(7));
        assert_eq!(signups(&mut tx, &b), None);
        let commit = tx.into_commit(vec![]);
        // c was fetched and never read: no condition on it.
        assert_eq!(commit.reads, vec![(a, 1), (b, 0)]);
    }
}
