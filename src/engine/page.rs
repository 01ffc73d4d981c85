//! Listings in pages: a listing reads at most [`MAX_PAGE`] records per call
//! and hands back a [`Cursor`] to go on from, so that no request path reads a
//! whole program.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::{Key, KeyRange, Record, Store};

/// The most records one page reads.
pub const MAX_PAGE: usize = 1_000;

/// Where a listing goes on: after the last record the previous page read.
/// Opaque to the host; it can travel to a client and back (it only ever
/// reads within the listing it came from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The records, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page begins; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Reading a key range a page at a time, from after a key: the one rule
/// listings and payouts share.
pub(crate) struct Resume {
    /// The range to scan: from the key to resume after, itself included (no
    /// key is greater by a byte that every store can hold).
    pub(crate) range: KeyRange,
    skip: Option<Key>,
    limit: usize,
}

impl Resume {
    /// `limit` records of `range` after `after` (from its start without one).
    pub(crate) fn new(mut range: KeyRange, after: Option<Key>, limit: usize) -> Self {
        let skip = after.filter(|after| *after >= range.start);
        if let Some(after) = &skip {
            range.start = after.clone();
        }
        Self { range, skip, limit }
    }

    /// How many records to scan: the page, the key resumed after (if it is
    /// still there) and one more, to know whether another page follows.
    pub(crate) fn fetch(&self) -> usize {
        self.limit.saturating_add(2)
    }

    /// Cuts what the scan found to the page; whether more records follow.
    pub(crate) fn cut<K: AsRef<Key>, T>(&self, found: &mut Vec<(K, T)>) -> bool {
        if let (Some(skip), Some((first, _))) = (&self.skip, found.first())
            && first.as_ref() == skip
        {
            found.remove(0);
        }
        let more = found.len() > self.limit;
        found.truncate(self.limit);
        more
    }
}

/// A listing of one kind of record of a program, read in pages: see
/// [`page`](Self::page) and [`all`](Self::all).
pub struct Listing<'r, T> {
    store: &'r dyn Store,
    range: KeyRange,
    decode: fn(&Record) -> Option<T>,
    keep: Box<dyn Fn(&T) -> bool + 'r>,
}

impl<T> std::fmt::Debug for Listing<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing").field("range", &self.range).finish_non_exhaustive()
    }
}

impl<'r, T> Listing<'r, T> {
    pub(crate) fn new(store: &'r dyn Store, range: KeyRange, decode: fn(&Record) -> Option<T>) -> Self {
        Self { store, range, decode, keep: Box::new(|_| true) }
    }

    /// Only the records `keep` accepts (a page may then hold fewer than its
    /// limit and still have a next one).
    pub(crate) fn filter(mut self, keep: impl Fn(&T) -> bool + 'r) -> Self {
        self.keep = Box::new(keep);
        self
    }

    /// Up to `limit` records (at most [`MAX_PAGE`]) after `after`, or from
    /// the start.
    pub fn page(&self, after: Option<&Cursor>, limit: usize) -> Result<Page<T>, Error> {
        let after = after.map(|Cursor(last)| Key::from_stored(last.clone()));
        let resume = Resume::new(self.range.clone(), after, limit.clamp(1, MAX_PAGE));
        if resume.range.start >= resume.range.end {
            return Ok(Page { items: Vec::new(), next: None });
        }
        let mut found = self.store.scan(&resume.range, resume.fetch())?;
        let more = resume.cut(&mut found);
        let next = more.then(|| found.last().map(|(k, _)| Cursor(k.as_str().to_owned()))).flatten();
        let items = found
            .iter()
            .map(|(key, v)| {
                (self.decode)(&v.record).ok_or_else(|| {
                    Error::Store(crate::store::StoreError::Corrupt {
                        key: key.to_string(),
                        reason: "record of another kind".into(),
                    })
                })
            })
            .filter(|r| r.as_ref().map_or(true, |t| (self.keep)(t)))
            .collect::<Result<Vec<T>, Error>>()?;
        Ok(Page { items, next })
    }

    /// Every record, page by page: for exports, jobs and tests, not for
    /// request paths.
    pub fn all(&self) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.page(after.as_ref(), MAX_PAGE)?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }
}
