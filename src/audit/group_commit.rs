//! Group commit: records that many request threads hand in at once are written in one
//! transaction, so one fsync covers them all, and each thread returns only when its own record
//! is durable (or with the error that kept it from being).
//!
//! The first thread to find no write in progress becomes the writer for everything pending;
//! the others wait for it. While it writes, new records queue for the next round.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

pub struct GroupCommit<T> {
    state: Mutex<State<T>>,
    written: Condvar,
}

struct State<T> {
    /// Records not yet taken by a writer, in ticket order.
    pending: Vec<T>,
    /// The ticket the next record gets.
    next_ticket: u64,
    writing: bool,
    /// Outcomes of written records whose threads have not picked them up yet.
    outcomes: HashMap<u64, Result<(), String>>,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State { pending: Vec::new(), next_ticket: 0, writing: false, outcomes: HashMap::new() }),
            written: Condvar::new(),
        }
    }
}

impl<T> GroupCommit<T> {
    /// Hands in `record` and returns once it is written. `write` is called (by this thread)
    /// only when this thread becomes the writer; it gets every pending record, in order.
    pub fn submit(&self, record: T, write: impl FnOnce(Vec<T>) -> Result<(), String>) -> Result<(), String> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.pending.push(record);
        loop {
            if let Some(outcome) = state.outcomes.remove(&ticket) {
                return outcome;
            }
            if !state.writing {
                state.writing = true;
                let batch = std::mem::take(&mut state.pending);
                let first = state.next_ticket - batch.len() as u64;
                let tickets = first..state.next_ticket;
                drop(state);
                // Should `write` panic, the batch's other threads get an error, never a silent Ok.
                let mut guard =
                    Outcome { group: self, tickets, writer: ticket, result: Err("the audit writer failed".into()) };
                let result = write(batch);
                guard.result = result.clone();
                return result;
            }
            state = self.written.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Publishes a batch's outcome to its other threads when the writer is done (or unwinds).
struct Outcome<'a, T> {
    group: &'a GroupCommit<T>,
    tickets: std::ops::Range<u64>,
    writer: u64,
    result: Result<(), String>,
}

impl<T> Drop for Outcome<'_, T> {
    fn drop(&mut self) {
        let mut state = self.group.lock();
        for ticket in self.tickets.clone().filter(|t| *t != self.writer) {
            state.outcomes.insert(ticket, self.result.clone());
        }
        state.writing = false;
        drop(state);
        self.group.written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_record_is_written_once_in_batches() {
        let group = Arc::new(GroupCommit::<u32>::default());
        let written = Arc::new(Mutex::new(Vec::new()));
        let batches = Arc::new(Mutex::new(0));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (group, written, batches) = (Arc::clone(&group), Arc::clone(&written), Arc::clone(&batches));
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let outcome = group.submit(t * 100 + i, |batch| {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            *batches.lock().expect("count") += 1;
                            written.lock().expect("written").extend(batch);
                            Ok(())
                        });
                        assert_eq!(outcome, Ok(()));
                        assert!(written.lock().expect("written").contains(&(t * 100 + i)), "returned before written");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let mut all = written.lock().expect("written").clone();
        all.sort_unstable();
        let expected: Vec<u32> = (0..8).flat_map(|t| (0..50).map(move |i| t * 100 + i)).collect();
        assert_eq!(all, expected);
        assert!(*batches.lock().expect("count") < 400, "no record shared a transaction");
    }

    #[test]
    fn a_failed_write_fails_every_record_in_it_and_a_panic_is_a_failure() {
        let group = GroupCommit::<u32>::default();
        assert_eq!(group.submit(1, |_| Err("disk full".into())), Err("disk full".into()));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| group.submit(2, |_| panic!("boom"))));
        assert!(panicked.is_err());
        // The group still works, and nothing was reported written that was not.
        assert_eq!(group.submit(3, |batch| if batch == vec![3] { Ok(()) } else { Err("wrong batch".into()) }), Ok(()));
    }
}
