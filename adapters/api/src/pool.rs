//! A small blocking connection pool for network databases.
//!
//! Why not r2d2: when the database is down, r2d2 keeps a caller waiting for its whole
//! connection timeout while it retries in the background. Here a caller waits only for a free
//! slot (the pool size is the most statements the EHR sees at once); connecting happens on
//! the caller's thread and fails as fast as the driver does, so the connector can answer 503
//! within a second.

use crate::{PoolStatus, SourceError};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Opens one connection to a database.
pub trait Connect: Send + Sync {
    type Connection: Send;
    fn connect(&self) -> Result<Self::Connection, SourceError>;
}

pub struct Pool<C: Connect> {
    connector: C,
    max: u32,
    /// How long a caller waits for a free slot before the request is refused as busy.
    wait: Duration,
    state: Mutex<State<C::Connection>>,
    freed: Condvar,
}

struct State<T> {
    idle: Vec<T>,
    in_use: u32,
}

impl<C: Connect> Pool<C> {
    pub fn new(connector: C, max: u32, wait: Duration) -> Self {
        Self {
            connector,
            max: max.max(1),
            wait,
            state: Mutex::new(State { idle: Vec::new(), in_use: 0 }),
            freed: Condvar::new(),
        }
    }

    /// Runs `work` on a connection. A reused connection that turns out dead (the database
    /// restarted, a firewall dropped it) is discarded and the work runs once more on a new
    /// one; statements here only read, so running one twice is harmless.
    pub fn with<T>(
        &self,
        mut work: impl FnMut(&mut C::Connection) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let reused = self.acquire()?;
        let _slot = Slot(self);
        let (mut conn, was_reused) = match reused {
            Some(conn) => (conn, true),
            None => (self.connector.connect()?, false),
        };
        match work(&mut conn) {
            Err(SourceError::Unavailable(_)) if was_reused => {
                drop(conn);
                let mut fresh = self.connector.connect()?;
                let result = work(&mut fresh);
                self.give_back(fresh, &result);
                result
            }
            result => {
                self.give_back(conn, &result);
                result
            }
        }
    }

    pub fn status(&self) -> PoolStatus {
        let state = self.lock();
        let idle = u32::try_from(state.idle.len()).unwrap_or(u32::MAX);
        PoolStatus { max: self.max, open: idle.saturating_add(state.in_use), idle }
    }

    /// Takes a slot, and an idle connection when there is one.
    fn acquire(&self) -> Result<Option<C::Connection>, SourceError> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.lock();
        while state.in_use >= self.max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SourceError::Busy(self.wait));
            }
            state = match self.freed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.in_use += 1;
        Ok(state.idle.pop())
    }

    /// Keeps a connection for the next caller unless the database dropped it.
    fn give_back<T>(&self, conn: C::Connection, result: &Result<T, SourceError>) {
        if !matches!(result, Err(SourceError::Unavailable(_))) {
            self.lock().idle.push(conn);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<C::Connection>> {
        // A panic while holding the lock leaves consistent counters; keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Releases a slot however `with` returns.
struct Slot<'a, C: Connect>(&'a Pool<C>);

impl<C: Connect> Drop for Slot<'_, C> {
    fn drop(&mut self) {
        self.0.lock().in_use -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// Connections are numbers; `up` decides whether the "database" answers.
    struct Numbers {
        opened: AtomicU32,
        up: std::sync::atomic::AtomicBool,
    }

    impl Connect for Arc<Numbers> {
        type Connection = u32;
        fn connect(&self) -> Result<u32, SourceError> {
            if !self.up.load(Ordering::SeqCst) {
                return Err(SourceError::Unavailable("refused".into()));
            }
            Ok(self.opened.fetch_add(1, Ordering::SeqCst))
        }
    }

    fn pool(max: u32) -> (Arc<Numbers>, Pool<Arc<Numbers>>) {
        let numbers = Arc::new(Numbers { opened: AtomicU32::new(0), up: true.into() });
        (numbers.clone(), Pool::new(numbers, max, Duration::from_millis(50)))
    }

    #[test]
    fn reuses_idle_connections() {
        let (numbers, pool) = pool(2);
        assert_eq!(pool.with(|c| Ok(*c)).ok(), Some(0));
        assert_eq!(pool.with(|c| Ok(*c)).ok(), Some(0));
        assert_eq!(numbers.opened.load(Ordering::SeqCst), 1);
        assert_eq!(pool.status(), PoolStatus { max: 2, open: 1, idle: 1 });
    }

    #[test]
    fn a_dead_reused_connection_is_replaced_once() {
        let (numbers, pool) = pool(1);
        pool.with(|_| Ok(())).expect("first");
        let result = pool.with(|c| if *c == 0 { Err(SourceError::Unavailable("gone".into())) } else { Ok(*c) });
        assert_eq!(result.ok(), Some(1));
        assert_eq!(numbers.opened.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn database_down_fails_at_once() {
        let (numbers, pool) = pool(1);
        numbers.up.store(false, Ordering::SeqCst);
        let started = Instant::now();
        assert!(matches!(pool.with(|_| Ok(())), Err(SourceError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_millis(40), "must not wait for a slot or retry");
        assert_eq!(pool.status().open, 0, "the failed attempt holds no slot");
    }

    #[test]
    fn a_full_pool_refuses_as_busy_after_the_wait() {
        let (_, pool) = pool(1);
        let pool = Arc::new(pool);
        let (held, release) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let holder = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                pool.with(|_| {
                    let _ = started_tx.send(());
                    let _ = release.recv();
                    Ok(())
                })
            })
        };
        started.recv().expect("holder started");
        assert!(matches!(pool.with(|_| Ok(())), Err(SourceError::Busy(_))));
        drop(held);
        holder.join().expect("holder").expect("holder's work");
        assert!(pool.with(|_| Ok(())).is_ok(), "the slot is free again");
    }
}
