//! How long a writer waits before deciding again after its commit lost a
//! race, for every driver (the sync engine's thread, an async store's
//! timer): exponential growth with full jitter, capped, so that writers
//! contending for one hot record spread out instead of colliding again in
//! step.

use std::time::Duration;

#[cfg(feature = "tokio")]
use super::asynchronous::Turn;

/// The first pause's ceiling; each later attempt doubles it.
const BASE_MICROS: u64 = 100;
/// No pause is longer than this.
const CAP_MICROS: u64 = 100_000;

/// The pause after the `attempt`-th (from 0) conflicting commit: none after
/// the first (a lone conflict is usually a one-off), then a uniformly random
/// wait in `[0, min(CAP, BASE * 2^attempt)]`.
pub(crate) fn pause_after(attempt: u32) -> Option<Duration> {
    if attempt == 0 {
        return None;
    }
    let ceiling = BASE_MICROS.checked_shl(attempt.min(20)).unwrap_or(CAP_MICROS).min(CAP_MICROS);
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    let micros = random.checked_rem(ceiling.saturating_add(1)).unwrap_or(0);
    Some(Duration::from_micros(micros))
}

/// The turns of one store's writers in this process: a first attempt
/// shares the lane with every other first attempt; a retry, after its
/// pause, takes it alone (and, tokio's lock being fair, first attempts that
/// come after it wait). So a writer that lost a race on a hot record cannot
/// lose it again and again to newcomers: contention on one record becomes a
/// queue, and a cold record waits at most one retry's commit while a hot
/// one is contended.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Default)]
pub(crate) struct Lane(std::sync::Arc<tokio::sync::RwLock<()>>);

#[cfg(feature = "tokio")]
impl Lane {
    /// The turn of a writer's `attempt`-th attempt (from 0). It does not
    /// pause: a store whose writers also contend across processes waits
    /// [`sleep`] first (on tokio's timer, which a host's runtime may lack).
    pub(crate) async fn turn(&self, attempt: u32) -> Turn {
        if attempt == 0 {
            return Turn::holding(std::sync::Arc::clone(&self.0).read_owned().await);
        }
        Turn::holding(std::sync::Arc::clone(&self.0).write_owned().await)
    }
}

/// Waits the pause after the `attempt`-th conflicting commit on tokio's timer
/// (PgStore's commits and the host-transaction path use it).
#[cfg(feature = "sqlx-postgres")]
pub(crate) async fn sleep(attempt: u32) {
    if let Some(pause) = pause_after(attempt) {
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn a_retry_decides_alone_and_first_attempts_share_the_lane() {
        let lane = Lane::default();
        let first = lane.turn(0).await;
        let _second_first = lane.turn(0).await;
        assert!(lane.0.try_write().is_err(), "a retry waits for first attempts in flight");
        drop((first, _second_first));
        let retry = lane.turn(1).await;
        assert!(lane.0.try_read().is_err(), "a first attempt waits for a retry in its turn");
        drop(retry);
        assert!(lane.0.try_read().is_ok());
    }

    #[test]
    fn the_first_retry_is_immediate_and_later_ones_stay_under_a_growing_cap() {
        assert_eq!(pause_after(0), None);
        for attempt in 1..200 {
            let ceiling = Duration::from_micros((BASE_MICROS << attempt.min(10)).min(CAP_MICROS));
            let pause = pause_after(attempt).unwrap_or(Duration::MAX);
            assert!(pause <= ceiling, "attempt {attempt}: {pause:?} > {ceiling:?}");
        }
    }

    #[test]
    fn pauses_are_spread_not_in_step() {
        let pauses: std::collections::HashSet<_> = (0..32).filter_map(|_| pause_after(12)).collect();
        assert!(pauses.len() > 16, "{pauses:?}");
    }
}
