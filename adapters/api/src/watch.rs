//! Client-side deadlines for blocking database work. A request's statements run on a blocking
//! thread; the one waiting for them (the async request handler) watches the deadline of the
//! step in progress (connecting, a statement) and gives up on it when it passes: a database that
//! accepts connections but never answers (a hung server, a dropped firewall state) cannot hang
//! a request, whatever the driver does. What gives up first cleans up: the pool frees the slot
//! of an abandoned connection at once and never reuses the connection, and the circuit breaker
//! counts the source as down.
//!
//! The blocking side marks its steps with [`Watch::step`] on the thread's current watch (see
//! [`Watch::enter`]); code that runs without one (tools, the demo loader) is not watched.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Added to every step's own time limit: a statement the database ends at its
/// `statement_timeout` is answered before the watch gives up on it.
pub const SLACK: Duration = Duration::from_secs(1);

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    deadline: Mutex<Option<Instant>>,
    abandoned: AtomicBool,
    hooks: Mutex<Vec<Hook>>,
}

/// The deadline of one request's blocking work, shared by the thread doing it and the one
/// waiting for it.
#[derive(Clone, Default)]
pub struct Watch(Arc<State>);

thread_local! {
    static CURRENT: RefCell<Option<Watch>> = const { RefCell::new(None) };
}

/// Until dropped, the watch is the current one of this thread.
pub struct Entered(Option<Watch>);

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Until dropped, a step with a deadline is in progress.
pub struct Step(Watch);

impl Drop for Step {
    fn drop(&mut self) {
        *self.0.lock_deadline() = None;
    }
}

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Makes this the current watch of the calling thread (the blocking side).
    pub fn enter(&self) -> Entered {
        Entered(CURRENT.with(|c| c.borrow_mut().replace(self.clone())))
    }

    /// The calling thread's current watch, if its work is watched.
    pub fn current() -> Option<Watch> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// A step that should end within `limit` (plus [`SLACK`]) from now.
    pub fn step(&self, limit: Duration) -> Step {
        *self.lock_deadline() = Some(Instant::now() + limit.saturating_add(SLACK));
        Step(self.clone())
    }

    /// When the step in progress must have ended; `None` between steps.
    pub fn deadline(&self) -> Option<Instant> {
        *self.lock_deadline()
    }

    /// The waiting side gives up: the hooks run (once), and the blocking side sees it.
    pub fn abandon(&self) {
        if self.0.abandoned.swap(true, Ordering::AcqRel) {
            return;
        }
        let hooks = std::mem::take(&mut *self.0.hooks.lock().unwrap_or_else(|p| p.into_inner()));
        for hook in hooks {
            hook();
        }
    }

    pub fn is_abandoned(&self) -> bool {
        self.0.abandoned.load(Ordering::Acquire)
    }

    /// Runs `hook` when the work is abandoned (at once, if it already was).
    pub fn on_abandon(&self, hook: impl FnOnce() + Send + 'static) {
        let mut hooks = self.0.hooks.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_abandoned() {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    fn lock_deadline(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.0.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn steps_set_deadlines_and_abandoning_runs_each_hook_once() {
        let watch = Watch::new();
        assert!(Watch::current().is_none());
        {
            let _entered = watch.enter();
            let current = Watch::current().expect("entered");
            let step = current.step(Duration::from_secs(2));
            assert!(watch.deadline().is_some_and(|d| d > Instant::now() + Duration::from_secs(2)));
            drop(step);
            assert!(watch.deadline().is_none());
        }
        assert!(Watch::current().is_none(), "leaving restores the thread");
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        watch.on_abandon(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        watch.abandon();
        watch.abandon();
        let late = runs.clone();
        watch.on_abandon(move || {
            late.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 2, "once each, a late hook at once");
        assert!(watch.is_abandoned());
    }
}
