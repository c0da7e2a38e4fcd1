//! A small blocking connection pool for network databases.
//!
//! Why not r2d2: when the database is down, r2d2 keeps a caller waiting for its whole
//! connection timeout while it retries in the background. Here a caller waits only for a free
//! slot (the pool size is the most statements the EHR sees at once); connecting happens on
//! the caller's thread and fails as fast as the driver does, so the connector can answer 503
//! within a second.

use crate::watch::Watch;
use crate::{PoolStatus, SourceError, SourceLimits};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Opens one connection to a database.
pub trait Connect: Send + Sync {
    type Connection: Send + 'static;
    fn connect(&self) -> Result<Self::Connection, SourceError>;
}

pub struct Pool<C: Connect> {
    connector: C,
    max: u32,
    /// How long a caller waits for a free slot before the request is refused as busy.
    wait: Duration,
    /// The deadlines of a watched caller's steps (see [`crate::watch`]).
    connect_timeout: Duration,
    statement_timeout: Duration,
    shared: Arc<Shared<C::Connection>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    freed: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves consistent counters; keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self) {
        self.lock().in_use -= 1;
        self.freed.notify_one();
    }
}

struct State<T> {
    idle: Vec<T>,
    in_use: u32,
}

impl<C: Connect> Pool<C> {
    /// At most `limits.pool_size` connections; callers wait `statement_timeout` for a slot.
    pub fn new(connector: C, limits: &SourceLimits) -> Self {
        Self {
            connector,
            max: limits.pool_size.max(1),
            wait: limits.statement_timeout,
            connect_timeout: limits.connect_timeout,
            statement_timeout: limits.statement_timeout,
            shared: Arc::new(Shared {
                state: Mutex::new(State { idle: Vec::new(), in_use: 0 }),
                freed: Condvar::new(),
            }),
        }
    }

    /// Runs `work` on a connection. A reused connection that turns out dead (the database
    /// restarted, a firewall dropped it) is discarded and the work runs once more on a new
    /// one; statements here only read, so running one twice is harmless. When the caller is
    /// watched and gives up on it (the database did not answer in time), its slot is freed at
    /// once, and the connection, whenever the driver lets go of it, is closed, not reused.
    pub fn with<T>(
        &self,
        mut work: impl FnMut(&mut C::Connection) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let watch = Watch::current();
        let reused = {
            let _step = watch.as_ref().map(|w| w.step(self.wait));
            self.acquire()?
        };
        let slot = Slot::new(&self.shared, watch.as_ref());
        let step = |limit| watch.as_ref().map(|w| w.step(limit));
        let abandoned = || watch.as_ref().is_some_and(Watch::is_abandoned);
        let (mut conn, was_reused) = match reused {
            Some(conn) => (conn, true),
            None => {
                let _connecting = step(self.connect_timeout);
                (self.connector.connect()?, false)
            }
        };
        let result = {
            let _statement = step(self.statement_timeout);
            work(&mut conn)
        };
        let result = match result {
            Err(SourceError::Unavailable(_)) if was_reused && !abandoned() => {
                drop(conn);
                let mut fresh = {
                    let _connecting = step(self.connect_timeout);
                    self.connector.connect()?
                };
                let result = {
                    let _statement = step(self.statement_timeout);
                    work(&mut fresh)
                };
                conn = fresh;
                result
            }
            result => result,
        };
        if abandoned() {
            // The caller is gone and the connection's state unknown: close it.
            return Err(SourceError::Unavailable("the database did not answer in time".into()));
        }
        if !matches!(result, Err(SourceError::Unavailable(_))) {
            self.shared.lock().idle.push(conn);
        }
        drop(slot);
        result
    }

    pub fn status(&self) -> PoolStatus {
        let state = self.shared.lock();
        let idle = u32::try_from(state.idle.len()).unwrap_or(u32::MAX);
        PoolStatus { max: self.max, open: idle.saturating_add(state.in_use), idle }
    }

    /// Takes a slot, and an idle connection when there is one.
    fn acquire(&self) -> Result<Option<C::Connection>, SourceError> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.shared.lock();
        while state.in_use >= self.max {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SourceError::Busy(self.wait));
            }
            state = match self.shared.freed.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.in_use += 1;
        Ok(state.idle.pop())
    }
}

/// A taken slot: released when `with` returns, or earlier, when its watched caller gives up
/// (whichever comes first; only once).
struct Slot<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    released: Arc<AtomicBool>,
}

impl<T: Send + 'static> Slot<T> {
    fn new(shared: &Arc<Shared<T>>, watch: Option<&Watch>) -> Self {
        let slot = Slot { shared: Arc::clone(shared), released: Arc::new(AtomicBool::new(false)) };
        if let Some(watch) = watch {
            let (shared, released) = (Arc::clone(shared), Arc::clone(&slot.released));
            watch.on_abandon(move || {
                if !released.swap(true, Ordering::AcqRel) {
                    shared.release();
                }
            });
        }
        slot
    }
}

impl<T: Send + 'static> Drop for Slot<T> {
    fn drop(&mut self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.shared.release();
        }
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
        let limits = SourceLimits {
            pool_size: max,
            statement_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_millis(50),
            max_rows: 100,
        };
        (numbers.clone(), Pool::new(numbers, &limits))
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

    /// A connection whose caller gave up (the database never answered) frees its slot at
    /// once, and is closed rather than reused when the driver finally lets go of it.
    #[test]
    fn an_abandoned_connection_frees_its_slot_and_is_not_reused() {
        let (numbers, pool) = pool(1);
        let pool = Arc::new(pool);
        let watch = Watch::new();
        let (stuck_tx, stuck) = std::sync::mpsc::channel::<()>();
        let (release_tx, release) = std::sync::mpsc::channel::<()>();
        let holder = {
            let (pool, watch) = (pool.clone(), watch.clone());
            std::thread::spawn(move || {
                let _entered = watch.enter();
                pool.with(|_| {
                    let _ = stuck_tx.send(());
                    let _ = release.recv();
                    Ok(())
                })
            })
        };
        stuck.recv().expect("stuck");
        assert!(watch.deadline().is_some(), "the statement has a deadline");
        watch.abandon();
        assert_eq!(pool.with(|c| Ok(*c)).ok(), Some(1), "a new connection, in the freed slot");
        drop(release_tx);
        assert!(matches!(holder.join().expect("holder"), Err(SourceError::Unavailable(_))));
        assert_eq!(pool.with(|c| Ok(*c)).ok(), Some(1), "the abandoned connection 0 was not kept");
        assert_eq!(numbers.opened.load(Ordering::SeqCst), 2);
        assert_eq!(pool.status().open, 1);
    }
}
