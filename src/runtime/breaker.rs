//! A circuit breaker around a source: when the database is down, requests fail at once
//! instead of each waiting for a connection attempt, and the first request after a short
//! pause (or a readiness check) finds out whether it is back. No restart needed.

use dva_source_api::watch::Watch;
use dva_source_api::{PoolStatus, RowSet, RowSource, SourceError, SqlStyle, Statement};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the breaker stays open before one request may try the database again.
const PAUSE: Duration = Duration::from_secs(2);
/// While down, how often the log says how many requests were refused (one line, not one each).
const REPORT_EVERY: Duration = Duration::from_secs(60);

pub struct Breaker {
    inner: Arc<dyn RowSource>,
    state: Arc<State>,
}

struct State {
    name: String,
    /// Since when the database is down; `None` while it answers.
    down: Mutex<Option<Outage>>,
    /// One request at a time tries a database that was down.
    probing: AtomicBool,
}

struct Outage {
    since: Instant,
    /// The last failed attempt: the next one waits a pause after it.
    tried: Instant,
    /// Requests refused at once since `since`, and since the last report.
    refused: u64,
    reported: (Instant, u64),
}

impl State {
    fn set_down(&self, down: bool) {
        let mut state = self.down.lock().unwrap_or_else(|p| p.into_inner());
        match (state.as_mut(), down) {
            (None, true) => {
                tracing::warn!(source = %self.name, "database down: failing requests fast until it answers");
                let now = Instant::now();
                *state = Some(Outage { since: now, tried: now, refused: 0, reported: (now, 0) });
            }
            // Each failure, a failed probe too, starts a new pause.
            (Some(outage), true) => outage.tried = Instant::now(),
            (Some(outage), false) => {
                tracing::info!(
                    source = %self.name,
                    down_secs = outage.since.elapsed().as_secs_f64(),
                    refused = outage.refused,
                    "database answers again"
                );
                *state = None;
            }
            (None, false) => {}
        }
    }

    /// Counts a request refused at once; says how many, now and then.
    fn refused(&self) {
        let mut state = self.down.lock().unwrap_or_else(|p| p.into_inner());
        let Some(outage) = state.as_mut() else { return };
        outage.refused += 1;
        crate::metrics::count("dva_source_unavailable_total", vec![("source", self.name.clone())]);
        if outage.reported.0.elapsed() >= REPORT_EVERY {
            tracing::warn!(
                source = %self.name,
                down_secs = outage.since.elapsed().as_secs(),
                refused = outage.refused - outage.reported.1,
                "database still down; requests refused in the last minute"
            );
            outage.reported = (Instant::now(), outage.refused);
        }
    }
}

impl Breaker {
    pub fn new(name: &str, inner: Arc<dyn RowSource>) -> Self {
        let state = State { name: name.to_owned(), down: Mutex::new(None), probing: AtomicBool::new(false) };
        Self { inner, state: Arc::new(state) }
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.state.down.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Runs `work` unless the breaker is open; records whether the database answered. A
    /// watched caller that gives up on the database (it did not answer in time) opens it too.
    fn guard<T>(&self, work: impl FnOnce() -> Result<T, SourceError>) -> Result<T, SourceError> {
        let tried = self.state.down.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|o| o.tried);
        let probe = match tried {
            None => false,
            Some(tried) if tried.elapsed() >= PAUSE && !self.state.probing.swap(true, Ordering::AcqRel) => true,
            Some(_) => {
                self.state.refused();
                return Err(SourceError::Unavailable("database marked down; retrying shortly".into()));
            }
        };
        if let Some(watch) = Watch::current() {
            let state = Arc::clone(&self.state);
            watch.on_abandon(move || state.set_down(true));
        }
        let result = work();
        match &result {
            Err(SourceError::Unavailable(_)) => self.state.set_down(true),
            // Any answer from the database, even an error about the statement, means it is up.
            _ => self.state.set_down(false),
        }
        if probe {
            self.state.probing.store(false, Ordering::Release);
        }
        result
    }
}

impl RowSource for Breaker {
    fn sql_style(&self) -> SqlStyle {
        self.inner.sql_style()
    }

    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError> {
        self.guard(|| self.inner.query(statement))
    }

    fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError> {
        self.guard(|| self.inner.columns(statement))
    }

    /// Readiness checks always reach the database: they are how an open breaker learns early
    /// that the database is back.
    fn health(&self) -> Result<(), SourceError> {
        if let Some(watch) = Watch::current() {
            let state = Arc::clone(&self.state);
            watch.on_abandon(move || state.set_down(true));
        }
        let result = self.inner.health();
        self.state.set_down(matches!(result, Err(SourceError::Unavailable(_))));
        result
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct Flaky {
        up: AtomicBool,
        calls: AtomicU32,
    }

    impl RowSource for Flaky {
        fn sql_style(&self) -> SqlStyle {
            dva_source_api::Dialect::Sqlite.into()
        }
        fn query(&self, _: &Statement) -> Result<RowSet, SourceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.up.load(Ordering::SeqCst) {
                Ok(RowSet::default())
            } else {
                Err(SourceError::Unavailable("refused".into()))
            }
        }
        fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError> {
            self.query(statement).map(|rows| rows.columns.to_vec())
        }
        fn health(&self) -> Result<(), SourceError> {
            self.query(&Statement { sql: String::new(), binds: vec![] }).map(drop)
        }
    }

    #[test]
    fn opens_on_unavailable_and_closes_when_the_database_answers() {
        let flaky = Arc::new(Flaky { up: AtomicBool::new(false), calls: AtomicU32::new(0) });
        let breaker = Breaker::new("his", flaky.clone());
        let st = Statement { sql: String::new(), binds: vec![] };
        assert!(breaker.query(&st).is_err());
        assert!(breaker.is_open());
        assert!(breaker.query(&st).is_err());
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 1, "an open breaker does not reach the database");
        flaky.up.store(true, Ordering::SeqCst);
        assert!(breaker.health().is_ok(), "a readiness check reaches the database");
        assert!(!breaker.is_open());
        assert!(breaker.query(&st).is_ok());
    }
}
