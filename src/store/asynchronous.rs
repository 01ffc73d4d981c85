//! The async store contract: what [`AsyncEngine`](crate::engine::AsyncEngine)
//! drives, and [`Blocking`], which lets any sync [`Store`] serve it.
//!
//! The contract is the sync one ([`Store`]) with the reads grouped: the
//! async engine decides against a [`Snapshot`] and, where the snapshot lacks
//! records, asks the store for all of them in one
//! [`fetch`](AsyncStore::fetch), one round of I/O. The commit's rules are
//! those of [`Store::commit`], word for word.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::snapshot::{Needs, Snapshot};
use super::{Commit, Store, StoreError};

/// A place the async engine keeps its records.
///
/// Implement it with `async fn`; the futures must be `Send`, so that a host
/// can run them on a multi-thread runtime (axum handlers). The crate starts
/// no runtime: every future runs on the caller's.
///
/// * [`fetch`](Self::fetch) adds to the snapshot every record, range and
///   idempotency record `needs` names, each as the store has it committed
///   (with its version; `None` when absent), in as few round trips as the
///   backend allows. Like [`Store::get`], the reads need not be one
///   consistent snapshot: the commit's version checks catch any change.
/// * [`commit`](Self::commit) is [`Store::commit`]: atomic, all or nothing,
///   [`StoreError::DuplicateEvent`] or [`StoreError::Conflict`] with
///   nothing written.
/// * [`forget_outcomes`](Self::forget_outcomes) is [`Store::forget_outcomes`].
///
/// The `testkit` feature's async conformance suite checks all of it.
pub trait AsyncStore: Send + Sync {
    /// Reads what `needs` names into `snapshot` (see
    /// [`Snapshot::found`], [`Snapshot::scanned`], [`Snapshot::stored`]).
    fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Applies a commit atomically (see [`Store::commit`]).
    fn commit(&self, commit: Commit) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets the outcomes of up to `limit` events handled before `before`
    /// (see [`Store::forget_outcomes`]).
    fn forget_outcomes(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// The turn of a writer's `attempt`-th attempt (from 0) to decide and
    /// commit, held by the engine through that attempt. A store uses it to
    /// spread or order writers that contend for one record: the crate's
    /// stores on tokio pause a retry for a random time under a ceiling that
    /// doubles with each attempt, then let it decide alone in this process,
    /// so no writer starves behind newcomers. The default gives every turn
    /// at once.
    fn turn(&self, attempt: u32) -> impl Future<Output = Turn> + Send {
        let _ = attempt;
        async { Turn::free() }
    }
}

/// A writer's turn, from [`AsyncStore::turn`]: whatever it holds (a lock's
/// guard) is released when the attempt ends.
pub struct Turn {
    _held: Option<Box<dyn Send + Sync>>,
}

impl Turn {
    /// A turn that holds nothing.
    pub fn free() -> Self {
        Self { _held: None }
    }

    /// A turn that holds `guard` until the attempt ends.
    pub fn holding(guard: impl Send + Sync + 'static) -> Self {
        Self { _held: Some(Box::new(guard)) }
    }
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").field("holding", &self._held.is_some()).finish()
    }
}

impl<A: AsyncStore + ?Sized> AsyncStore for Arc<A> {
    fn turn(&self, attempt: u32) -> impl Future<Output = Turn> + Send {
        (**self).turn(attempt)
    }
    fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).fetch(needs, snapshot)
    }
    fn commit(&self, commit: Commit) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).commit(commit)
    }
    fn forget_outcomes(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).forget_outcomes(before, limit)
    }
}

/// A sync [`Store`] serving the async engine: each call runs on tokio's
/// blocking pool (`spawn_blocking`), so that a store that blocks (SQLite, a
/// file, the sync PostgreSQL client) never blocks a runtime thread, and a
/// store that starts a runtime of its own inside a call does not meet the
/// host's. Needs a tokio runtime (feature `tokio`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use referral_engine::engine::AsyncEngine;
/// use referral_engine::store::Blocking;
/// use referral_engine::{Event, MemoryStore, ParticipantId, ProgramSpec};
/// use referral_engine::event::Enroll;
/// let spec: ProgramSpec = serde_json::from_str(r#"{"id": "p", "name": "P", "currency": "USD",
///     "policies": [{"type": "one_sided", "name": "bounty", "on": "sign_up", "reward": {"fixed": "5.00 USD"}}]}"#)?;
/// let engine = AsyncEngine::new(Blocking::new(MemoryStore::new())).with_program(spec.build()?);
/// let event = Event::new("e1", "p", Enroll::new(ParticipantId::new("ann")?))?;
/// let outcome = engine.handle(&event).await??;
/// assert_eq!(outcome.codes.len(), 1);
/// # Ok(()) }
/// ```
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct Blocking<S> {
    store: Arc<S>,
    lane: super::backoff::Lane,
}

#[cfg(feature = "tokio")]
impl<S> Clone for Blocking<S> {
    fn clone(&self) -> Self {
        Self { store: Arc::clone(&self.store), lane: self.lane.clone() }
    }
}

#[cfg(feature = "tokio")]
impl<S: Store + 'static> Blocking<S> {
    /// Serves `store` to the async engine.
    pub fn new(store: S) -> Self {
        Self { store: Arc::new(store), lane: super::backoff::Lane::default() }
    }

    /// The store served, for its own sync calls (which block: on a runtime
    /// thread, call them through `spawn_blocking`).
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// Runs `call` on the blocking pool with the store.
    async fn run<R: Send + 'static>(
        &self,
        call: impl FnOnce(&S) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || call(&store)).await {
            Ok(done) => done,
            // The call panicked or the runtime is shutting down: nothing is
            // known to have been written, and the engine may try again.
            Err(e) => Err(StoreError::Transient(Box::new(e))),
        }
    }
}

#[cfg(feature = "tokio")]
impl<S: Store + 'static> AsyncStore for Blocking<S> {
    async fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        // Fetched into a fresh snapshot on the blocking thread, then merged:
        // the caller's snapshot never crosses threads.
        let fetched = self
            .run(move |store| {
                let mut fetched = Snapshot::new(DateTime::<Utc>::MIN_UTC);
                fetched.fetch(store, needs)?;
                Ok(fetched)
            })
            .await?;
        snapshot.merge(fetched);
        Ok(())
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        self.run(move |store| store.commit(&commit)).await
    }

    async fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.run(move |store| store.forget_outcomes(before, limit)).await
    }

    async fn turn(&self, attempt: u32) -> Turn {
        self.lane.turn(attempt).await
    }
}

/// The memory store never blocks for long (one lock, no I/O), so it serves
/// the async engine directly, each call answered at once.
impl AsyncStore for super::MemoryStore {
    async fn fetch(&self, needs: Needs, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        snapshot.fetch(self, needs)
    }

    async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        Store::commit(self, &commit)
    }

    async fn forget_outcomes(&self, before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        Store::forget_outcomes(self, before, limit)
    }
}
