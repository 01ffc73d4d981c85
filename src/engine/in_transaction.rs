//! Handling an event inside the host's own PostgreSQL transaction
//! (feature `sqlx-postgres`): [`AsyncEngine::handle_in`].

use sqlx::{Connection, PgConnection};

use super::AsyncEngine;
use super::asynchronous::Driver;
use crate::error::{Error, Refusal};
use crate::event::{Event, Outcome};
use crate::store::pg::{Isolation, PgStore, classify};
use crate::store::snapshot::{Needs, Snapshot};
use crate::store::{Commit, StoreError};

impl AsyncEngine<PgStore> {
    /// Handles one event inside the transaction `conn` is in (a
    /// `&mut sqlx::Transaction<'_, Postgres>` derefs to one), so that the
    /// host's own writes in it and the event's effects commit together, when
    /// the host commits, or not at all.
    ///
    /// * The engine never commits or rolls back the host's transaction. Its
    ///   commit runs behind a savepoint: on a conflict it rolls back to the
    ///   savepoint and decides again; the host's transaction goes on.
    /// * The same event again (in this transaction, or after an earlier one
    ///   committed it) returns its first outcome and writes nothing, so a host
    ///   that retries its whole transaction after a failure rewards once.
    /// * At `READ COMMITTED` and `SERIALIZABLE` the commit is sound; at
    ///   `REPEATABLE READ` the call is refused ([`StoreError::Isolation`])
    ///   before anything is written. A serialization failure or deadlock
    ///   (transient) dooms the host's transaction: the error says so
    ///   ([`Error::is_retryable`]) and the host retries its transaction whole.
    /// * Outcomes past the retention window are not forgotten here (that
    ///   would lock rows until the host commits): a tick handled through
    ///   [`handle`](Self::handle) does it.
    ///
    /// ```no_run
    /// # async fn checkout(pool: sqlx::PgPool, engine: referral_engine::engine::AsyncEngine<referral_engine::store::pg::PgStore>,
    /// #     purchase: referral_engine::Event) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO orders (id, total) VALUES ($1, $2)").bind("o-1").bind(50).execute(&mut *tx).await?;
    /// match engine.handle_in(&mut tx, &purchase).await? {
    ///     Ok(outcome) => println!("{} rewards", outcome.rewards.len()),
    ///     Err(refusal) => println!("no reward: {refusal}"),
    /// }
    /// tx.commit().await?; // the order and its rewards, together
    /// # Ok(()) }
    /// ```
    pub async fn handle_in(&self, conn: &mut PgConnection, event: &Event) -> Result<Result<Outcome, Refusal>, Error> {
        let level = PgStore::isolation(conn).await?;
        if level == Isolation::RepeatableRead {
            return Err(StoreError::Isolation { level: "repeatable read" }.into());
        }
        let portably = self.store().is_portable() && level == Isolation::Serializable;
        let mut driver = InTransaction { store: self.store(), conn, portably };
        let span = super::trace::handle("handle_in", 1);
        let attempt =
            self.attempt(&span, &mut driver, |engine, tx, batch, inputs| engine.decide(tx, event, batch, inputs));
        super::trace::instrument(attempt, span.clone()).await
    }
}

/// Reads and commits on the host's connection, each commit behind a savepoint.
struct InTransaction<'a> {
    store: &'a PgStore,
    conn: &'a mut PgConnection,
    /// Whether to commit with plain statements ([`PgStore::portable`]).
    portably: bool,
}

impl Driver for InTransaction<'_> {
    async fn fetch(&mut self, needs: Needs, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        self.store.fetch_in(self.conn, needs, snapshot).await
    }

    async fn commit(&mut self, commit: Commit) -> Result<(), StoreError> {
        let mut savepoint = self.conn.begin().await.map_err(classify)?;
        let committed = if self.portably {
            self.store.commit_portably_in(&mut savepoint, &commit).await
        } else {
            self.store.commit_in(&mut savepoint, &commit).await
        };
        match committed {
            Ok(()) => savepoint.commit().await.map_err(classify),
            Err(failed) => {
                // Back to the savepoint: the host's transaction is usable again.
                savepoint.rollback().await.map_err(classify)?;
                Err(failed)
            }
        }
    }

    fn retries(&self) -> bool {
        false
    }

    /// A pause, but never the store's lane: a writer inside a host's
    /// transaction may hold row locks that a lane holder's commit waits
    /// for, and waiting for the lane then would deadlock both.
    async fn turn(&self, attempt: u32) -> crate::store::Turn {
        crate::store::backoff::sleep(attempt).await;
        crate::store::Turn::free()
    }
}
