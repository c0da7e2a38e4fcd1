//! A circuit breaker around a source: when the database is down, requests fail at once
//! instead of each waiting for a connection attempt, and the first request after a short
//! pause (or a readiness check) finds out whether it is back. No restart needed.

use dva_source_api::{PoolStatus, RowSet, RowSource, SourceError, SqlStyle, Statement};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the breaker stays open before one request may try the database again.
const PAUSE: Duration = Duration::from_secs(2);

pub struct Breaker {
    name: String,
    inner: Arc<dyn RowSource>,
    /// When the database was found down; `None` while it answers.
    down_since: Mutex<Option<Instant>>,
    /// One request at a time tries a database that was down.
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(name: &str, inner: Arc<dyn RowSource>) -> Self {
        Self { name: name.to_owned(), inner, down_since: Mutex::new(None), probing: AtomicBool::new(false) }
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.down_since().is_some()
    }

    fn down_since(&self) -> Option<Instant> {
        *self.down_since.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_down(&self, down: bool) {
        let mut state = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
        match (state.is_some(), down) {
            (false, true) => {
                tracing::warn!(source = %self.name, "database down: failing requests fast until it answers")
            }
            (true, false) => tracing::info!(source = %self.name, "database answers again"),
            _ => {}
        }
        // Each failure, a failed probe too, starts a new pause.
        *state = down.then(Instant::now);
    }

    /// Runs `work` unless the breaker is open; records whether the database answered.
    fn guard<T>(&self, work: impl FnOnce() -> Result<T, SourceError>) -> Result<T, SourceError> {
        let probe = match self.down_since() {
            None => false,
            Some(since) if since.elapsed() >= PAUSE && !self.probing.swap(true, Ordering::AcqRel) => true,
            Some(_) => return Err(SourceError::Unavailable("database marked down; retrying shortly".into())),
        };
        let result = work();
        match &result {
            Err(SourceError::Unavailable(_)) => self.set_down(true),
            // Any answer from the database, even an error about the statement, means it is up.
            _ => self.set_down(false),
        }
        if probe {
            self.probing.store(false, Ordering::Release);
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
        let result = self.inner.health();
        self.set_down(matches!(result, Err(SourceError::Unavailable(_))));
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
