//! Audit checkpoints in the log: at an interval (when records were added) and when the
//! server stops, the trail's end (its last record and MAC, keyed) is written to the log, which
//! lives outside the audit store. `audit verify --checkpoints-from` then finds records cut off
//! the end, which the chain alone cannot show.

use super::Snapshot;
use arc_swap::ArcSwap;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct CheckpointWriter {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

/// Starts writing checkpoints of the live snapshot's trail.
pub fn start(snapshot: Arc<ArcSwap<Snapshot>>) -> std::io::Result<CheckpointWriter> {
    let (stop, stopped) = channel::<()>();
    let thread = std::thread::Builder::new().name("audit-checkpoints".into()).spawn(move || {
        let mut written = None;
        loop {
            let every = snapshot.load().settings.audit.checkpoint_interval;
            let last = matches!(stopped.recv_timeout(every), Ok(()) | Err(RecvTimeoutError::Disconnected));
            write(&snapshot.load(), &mut written, last);
            if last {
                break;
            }
        }
    })?;
    Ok(CheckpointWriter { stop, thread: Some(thread) })
}

impl CheckpointWriter {
    /// Writes the last checkpoint and stops.
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One checkpoint, unless nothing was written since the last one (always when stopping).
fn write(snapshot: &Snapshot, written: &mut Option<i64>, always: bool) {
    match snapshot.audit.checkpoint() {
        Ok(checkpoint) if always || *written != Some(checkpoint.seq) => {
            *written = Some(checkpoint.seq);
            tracing::info!(checkpoint = %checkpoint, records = checkpoint.seq, "audit checkpoint");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the audit trail's end for a checkpoint"),
    }
}
