//! `dva-connector audit`: verify the trail (and its checkpoints), export a patient's records,
//! purge expired ones, print a checkpoint, add a key.

use super::{print_diagnostics, EXIT_INVALID_CONFIG, EXIT_UNAVAILABLE};
use crate::audit::{AuditKeys, AuditTrail, Checkpoint, OpenError, Verification};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AuditAction {
    /// Check that no record was changed, removed, inserted or reordered, and (with
    /// checkpoints from the log) that none was cut off the end. Exit 0 intact, 1 broken, 64
    /// when the key file does not fit the trail.
    Verify {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
        /// A checkpoint the server wrote to its log (`dva-audit-checkpoint/1/...`); repeatable.
        #[arg(long = "checkpoint", value_name = "CHECKPOINT")]
        checkpoints: Vec<String>,
        /// A file of log lines (`-`: standard input) whose checkpoints are all checked, e.g.
        /// `journalctl -u dva-connector -o cat | dva-connector audit verify -c F --checkpoints-from -`.
        #[arg(long, value_name = "FILE")]
        checkpoints_from: Option<PathBuf>,
    },
    /// Print one patient's records, oldest first, one JSON object per line (for the patient's
    /// access overview).
    Export {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
        /// The patient, by BSN.
        #[arg(long)]
        patient: String,
    },
    /// Remove records older than the retention (`[audit] retention_months`, default 36).
    Purge {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
    },
    /// Print a checkpoint of where the trail ends now, to keep outside the store.
    Checkpoint {
        #[arg(long, short, env = "DVA_CONFIG")]
        config: PathBuf,
    },
    /// Add a new key to the key file (creating it, mode 0600). The next start or reload writes
    /// with it; older keys stay in the file, so older records keep verifying.
    NewKey {
        /// The config whose `[audit] key_file` to add to.
        #[arg(long, short, env = "DVA_CONFIG", required_unless_present = "key_file")]
        config: Option<PathBuf>,
        /// Or the key file itself.
        #[arg(long, conflicts_with = "config")]
        key_file: Option<PathBuf>,
    },
}

pub fn run(action: AuditAction) -> ExitCode {
    if let AuditAction::NewKey { config, key_file } = &action {
        return new_key(config.as_deref(), key_file.as_deref());
    }
    let config = match &action {
        AuditAction::Verify { config, .. }
        | AuditAction::Export { config, .. }
        | AuditAction::Purge { config }
        | AuditAction::Checkpoint { config } => config,
        AuditAction::NewKey { .. } => return ExitCode::FAILURE,
    };
    let settings = match crate::config::Settings::load(config) {
        Ok(s) => s,
        Err(diags) => {
            print_diagnostics(&diags.sorted());
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let keys = match AuditKeys::load(&settings.audit.key_file) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
    };
    let trail = match AuditTrail::open(&settings.audit.store, keys) {
        Ok(t) => t,
        Err(OpenError::Keys(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID_CONFIG);
        }
        Err(OpenError::Store(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    };
    let place = trail.place().to_owned();
    let result = match action {
        AuditAction::Verify { checkpoints, checkpoints_from, .. } => {
            let found = match read_checkpoints(&checkpoints, checkpoints_from.as_deref(), trail.keys()) {
                Ok(found) => found,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_INVALID_CONFIG);
                }
            };
            trail.verify(&found).map(|v| report(v, found.len()))
        }
        AuditAction::Export { patient, .. } => {
            let Some(bsn) = crate::auth::Bsn::parse(patient.trim()) else {
                eprintln!("error: --patient is not a valid BSN");
                return ExitCode::from(EXIT_INVALID_CONFIG);
            };
            trail.export(&bsn).map(|events| {
                for e in events {
                    println!("{}", serde_json::to_string(&e).unwrap_or_default());
                }
                ExitCode::SUCCESS
            })
        }
        AuditAction::Purge { .. } => {
            let months = settings.audit.retention_months;
            let cutoff = chrono::Utc::now()
                .checked_sub_months(chrono::Months::new(months))
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            trail.purge(&cutoff).map(|n| {
                println!("removed {n} records older than {months} months (before {cutoff})");
                ExitCode::SUCCESS
            })
        }
        AuditAction::Checkpoint { .. } => trail.checkpoint().map(|c| {
            println!("{c}");
            ExitCode::SUCCESS
        }),
        AuditAction::NewKey { .. } => return ExitCode::FAILURE,
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: audit store {place}: {e}");
        ExitCode::from(EXIT_UNAVAILABLE)
    })
}

fn report(verdict: Verification, checkpoints: usize) -> ExitCode {
    match verdict {
        Verification::Intact { records } => {
            println!("audit trail intact: {records} records; {checkpoints} checkpoints hold");
            ExitCode::SUCCESS
        }
        Verification::Broken { seq, problem } => {
            println!("audit trail BROKEN at record {seq}: {problem}");
            ExitCode::FAILURE
        }
        Verification::UnknownKey { seq, key_id } => {
            eprintln!(
                "error: from record {seq} on, the trail was written with audit key `{key_id}`, which the key file \
                 lacks; verify with the key file that holds it"
            );
            ExitCode::from(EXIT_INVALID_CONFIG)
        }
    }
}

/// The checkpoints given and those in the file (`-`: standard input); each must be written
/// with a key of this key file.
fn read_checkpoints(given: &[String], from: Option<&Path>, keys: &AuditKeys) -> Result<Vec<Checkpoint>, String> {
    let mut text = given.join("\n");
    if let Some(path) = from {
        let read = if path == Path::new("-") {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        };
        text.push('\n');
        text.push_str(&read.map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let found = Checkpoint::find_all(&text);
    if found.len() < given.len() {
        return Err("a --checkpoint is not a checkpoint (`dva-audit-checkpoint/1/...`)".into());
    }
    if let Some(forged) = found.iter().find(|c| !c.is_authentic(keys)) {
        return Err(format!(
            "the checkpoint of {} (record {}) was not written with a key of this key file",
            forged.at, forged.seq
        ));
    }
    Ok(found)
}

fn new_key(config: Option<&Path>, key_file: Option<&Path>) -> ExitCode {
    let path = match (key_file, config) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(config)) => match crate::config::Settings::load(config) {
            Ok(s) => s.audit.key_file,
            Err(diags) => {
                print_diagnostics(&diags.sorted());
                return ExitCode::from(EXIT_INVALID_CONFIG);
            }
        },
        (None, None) => return ExitCode::from(EXIT_INVALID_CONFIG),
    };
    match crate::audit::new_key(&path) {
        Ok(id) => {
            println!(
                "added audit key `{id}` to {}; the next start or reload writes with it (keep the older keys)",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
