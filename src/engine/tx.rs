//! Reading through a store while recording what was read, then turning the
//! decision into one [`Commit`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::Error;
use crate::event::{Event, Outcome};
use crate::store::{Commit, Key, KeyRange, Record, RecordKind, Store, StoreError, Write};

/// The read set and write set of one decision.
///
/// Records are shared (`Arc`) between the store, the read set and the write
/// set; a decision takes its own copy of a record only when it reads it.
pub(crate) struct Tx<'s> {
    store: &'s dyn Store,
    seen: BTreeMap<Key, (u64, Option<Arc<Record>>)>,
    writes: BTreeMap<Key, Option<Arc<Record>>>,
}

fn cast<T: RecordKind>(key: &Key, record: &Record) -> Result<T, Error> {
    T::from_record(record.clone()).ok_or_else(|| {
        Error::Store(StoreError::Corrupt { key: key.to_string(), reason: "record of another kind".into() })
    })
}

impl<'s> Tx<'s> {
    pub(crate) fn new(store: &'s dyn Store) -> Self {
        Self { store, seen: BTreeMap::new(), writes: BTreeMap::new() }
    }

    fn load(&mut self, key: &Key) -> Result<Option<Arc<Record>>, Error> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        if let Some((_, r)) = self.seen.get(key) {
            return Ok(r.clone());
        }
        let found = self.store.get(key)?;
        let (version, record) = found.map_or((0, None), |v| (v.version, Some(v.record)));
        self.seen.insert(key.clone(), (version, record.clone()));
        Ok(record)
    }

    /// The record under `key`, as this decision sees it.
    pub(crate) fn get<T: RecordKind>(&mut self, key: &Key) -> Result<Option<T>, Error> {
        self.load(key)?.map(|r| cast(key, &r)).transpose()
    }

    /// Writes a record over one that was read (or is known absent).
    pub(crate) fn put<T: RecordKind>(&mut self, key: Key, value: T) -> Result<(), Error> {
        if !self.seen.contains_key(&key) {
            self.load(&key)?;
        }
        self.writes.insert(key, Some(Arc::new(value.into_record())));
        Ok(())
    }

    /// Writes a record under a key no record can have yet (a fresh id).
    pub(crate) fn put_new<T: RecordKind>(&mut self, key: Key, value: T) {
        self.seen.entry(key.clone()).or_insert((0, None));
        self.writes.insert(key, Some(Arc::new(value.into_record())));
    }

    /// Removes a record that was read.
    pub(crate) fn delete(&mut self, key: Key) -> Result<(), Error> {
        if !self.seen.contains_key(&key) {
            self.load(&key)?;
        }
        self.writes.insert(key, None);
        Ok(())
    }

    /// Up to `limit` records in range, recording each as read.
    pub(crate) fn scan<T: RecordKind>(&mut self, range: &KeyRange, limit: usize) -> Result<Vec<(Key, T)>, Error> {
        let found = self.store.scan(range, limit)?;
        let mut out = Vec::with_capacity(found.len());
        for (key, v) in found {
            self.seen.entry(key.clone()).or_insert((v.version, Some(Arc::clone(&v.record))));
            let current = match self.writes.get(&key) {
                Some(None) => continue,
                Some(Some(r)) => Arc::clone(r),
                None => v.record,
            };
            out.push((key.clone(), cast(&key, &current)?));
        }
        Ok(out)
    }

    pub(crate) fn into_commit(self, event: Event, outcome: Outcome) -> Commit {
        let reads = self.seen.into_iter().map(|(k, (v, _))| (k, v)).collect();
        let writes = self
            .writes
            .into_iter()
            .map(|(k, r)| match r {
                Some(r) => Write::Put(k, r),
                None => Write::Delete(k),
            })
            .collect();
        Commit { event, outcome, reads, writes }
    }
}
