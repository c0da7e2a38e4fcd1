//! Hot reload. The file watcher and SIGHUP only send a [`ReloadEvent`] onto one channel; one
//! controller thread rebuilds the whole snapshot through the same code path as start-up and
//! swaps it in only when it is valid and compatible with what is running. In-flight requests
//! finish on the snapshot they started with (they hold an `Arc` to it).

use super::Snapshot;
use arc_swap::ArcSwap;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the controller should rebuild the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadEvent {
    FilesChanged,
    Signal,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Applied,
    /// Kept the running snapshot; the lines say why (`file:line:column: message` or a setting
    /// that needs a restart).
    Rejected(Vec<String>),
}

/// Keeps the watcher alive; `signal` feeds the same controller (SIGHUP uses it).
pub struct Reloader {
    pub signal: Sender<ReloadEvent>,
    _watcher: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// How long file events settle before a reload: editors write in several steps.
const SETTLE: Duration = Duration::from_millis(200);

/// Starts watching the config file, the token file, every mapping folder and the shared
/// folders the sets use.
pub fn start(config: PathBuf, current: Arc<ArcSwap<Snapshot>>) -> Result<Reloader, String> {
    let (tx, rx) = channel::<ReloadEvent>();
    let files_tx = tx.clone();
    let mut watcher = new_debouncer(SETTLE, None, move |result: DebounceEventResult| {
        let relevant = result.is_ok_and(|events| {
            events.iter().filter(|e| is_change(&e.kind)).flat_map(|e| e.paths.iter()).any(|p| is_config_file(p))
        });
        if relevant {
            let _ = files_tx.send(ReloadEvent::FilesChanged);
        }
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    for dir in watched_dirs(&config, &current.load()) {
        watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    }
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            while let Ok(event) = rx.recv() {
                // Coalesce a burst of events into one reload.
                while rx.try_recv().is_ok() {}
                let started = Instant::now();
                super::systemd::notify_or_warn("RELOADING=1");
                let outcome = reload(&config, &current);
                super::systemd::notify_or_warn("READY=1");
                let elapsed_ms = started.elapsed().as_millis() as u64;
                let label = if outcome == ReloadOutcome::Applied { "applied" } else { "rejected" };
                crate::metrics::count("dva_reloads_total", vec![("outcome", label.to_owned())]);
                match outcome {
                    ReloadOutcome::Applied => tracing::info!(?event, elapsed_ms, "reload applied"),
                    ReloadOutcome::Rejected(lines) => {
                        tracing::warn!(
                            ?event,
                            elapsed_ms,
                            problems = lines.len(),
                            "reload rejected; the last good configuration keeps serving"
                        );
                        for line in lines {
                            tracing::warn!("{line}");
                        }
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the reload thread: {e}"))?;
    Ok(Reloader { signal: tx, _watcher: watcher })
}

/// Whether a file event is a change. Reads are not: a reload reads the token file and every
/// mapping, and counting those reads would reload again, forever.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn is_config_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| ["yaml", "yml", "toml", "json"].iter().any(|e| x == *e))
}

fn watched_dirs(config: &Path, snapshot: &Snapshot) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![config.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)];
    let auth_file = match &snapshot.settings.auth {
        crate::config::AuthSettings::StaticTokens { file } => file,
        // The JWKS file is re-read by the validator itself when a token names a new key.
        crate::config::AuthSettings::Jwt(crate::config::JwtSettings {
            jwks: crate::config::JwksSource::File(file),
            ..
        }) => file,
        crate::config::AuthSettings::Jwt(_) | crate::config::AuthSettings::Introspection(_) => config,
    };
    dirs.extend(auth_file.parent().map(Path::to_path_buf));
    dirs.extend(snapshot.settings.services.iter().map(|s| s.mappings.clone()));
    // A change to a shared folder reloads every set that uses it.
    dirs.extend(snapshot.services.iter().filter_map(|s| s.mappings.shared_dir.clone()));
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Builds a new snapshot and swaps it in if it is valid and needs no restart.
pub fn reload(config: &Path, current: &ArcSwap<Snapshot>) -> ReloadOutcome {
    let next = match Snapshot::load_after(config, &current.load().checked) {
        Ok(s) => s,
        Err(diags) => return ReloadOutcome::Rejected(diags.iter().map(ToString::to_string).collect()),
    };
    let running = current.load();
    let restart = needs_restart(&running, &next);
    if !restart.is_empty() {
        return ReloadOutcome::Rejected(restart);
    }
    current.store(Arc::new(next));
    ReloadOutcome::Applied
}

/// Settings the running server cannot take over live: sockets, threads and routes.
fn needs_restart(running: &Snapshot, next: &Snapshot) -> Vec<String> {
    let file = next.settings.file.display();
    let mut out = Vec::new();
    let (a, b) = (&running.settings, &next.settings);
    if a.tls != b.tls {
        out.push(format!("{file}: `[server.tls]` changed; that takes a restart (changed certificate files are picked up without one)"));
    }
    if a.listen != b.listen {
        out.push(format!("{file}: `listen` changed from {} to {}; that takes a restart", a.listen, b.listen));
    }
    if a.admin != b.admin {
        out.push(format!("{file}: the admin `listen` changed; that takes a restart"));
    }
    if a.workers != b.workers {
        out.push(format!("{file}: `workers` changed from {} to {}; that takes a restart", a.workers, b.workers));
    }
    let routes = |s: &Snapshot| s.services.iter().map(|d| (d.name.clone(), d.base_path.clone())).collect::<Vec<_>>();
    if routes(running) != routes(next) {
        out.push(format!("{file}: data services or their base paths changed; that takes a restart"));
    }
    out
}
