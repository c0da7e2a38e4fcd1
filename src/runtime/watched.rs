//! A request's blocking database work, run on the blocking pool with a client-side deadline
//! on each step (see `dva_source_api::watch`): the async side waits until the work is done, or
//! until the step in progress outlives its deadline, and then gives up on it. No database,
//! however it fails to answer, holds a request longer than a step's time limit plus a second.

use dva_source_api::watch::Watch;
use std::time::{Duration, Instant};

/// How often the wait looks again while no step is in progress (the work is between
/// statements, building resources).
const BETWEEN_STEPS: Duration = Duration::from_millis(50);

/// Why there is no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// A step outlived its deadline (or the whole work its `within`): given up after `waited`.
    TimedOut { waited: Duration },
    /// The work panicked (a bug; logged by the blocking pool).
    Failed,
}

/// Runs `work` on the blocking pool, watched; `within` bounds the whole of it as well.
pub async fn watched<T: Send + 'static>(
    within: Option<Duration>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unanswered> {
    let watch = Watch::new();
    let started = Instant::now();
    let inner = watch.clone();
    let task = actix_web::web::block(move || {
        let _entered = inner.enter();
        work()
    });
    tokio::pin!(task);
    loop {
        let overall = within.map(|w| started + w);
        let wake =
            [watch.deadline(), overall].into_iter().flatten().min().unwrap_or_else(|| Instant::now() + BETWEEN_STEPS);
        tokio::select! {
            done = &mut task => return done.map_err(|_| Unanswered::Failed),
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                let late = watch.deadline().is_some_and(|d| now >= d) || overall.is_some_and(|o| now >= o);
                if late {
                    watch.abandon();
                    return Err(Unanswered::TimedOut { waited: started.elapsed() });
                }
            }
        }
    }
}
