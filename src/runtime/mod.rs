//! The live snapshot: settings, compiled mapping sets and open sources, swapped as a whole.

mod breaker;
pub mod checkpoints;
pub mod reload;
mod service;
mod snapshot;
pub mod statements;
pub mod systemd;
mod watched;

pub use service::{DataService, SearchPage, ServiceError, TypeSearch};
pub use snapshot::Snapshot;
pub use watched::{watched, Unanswered};
