//! Problems found while loading config and mapping files, reported all at once as
//! `file:line:column: message`.

use super::yaml::Pos;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {kind}: {}", self.file.display(), self.pos.line, self.pos.column, self.message)
    }
}

/// Collects diagnostics for one file; many files' collections are concatenated.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, file: &Path, pos: Pos, message: impl Into<String>) {
        self.push(file, pos, Severity::Error, message.into());
    }

    pub fn warning(&mut self, file: &Path, pos: Pos, message: impl Into<String>) {
        self.push(file, pos, Severity::Warning, message.into());
    }

    fn push(&mut self, file: &Path, pos: Pos, severity: Severity, message: String) {
        self.items.push(Diagnostic { file: file.to_path_buf(), pos, severity, message });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Sorted by file and position, so output is stable.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| (&a.file, a.pos.line, a.pos.column).cmp(&(&b.file, b.pos.line, b.pos.column)));
        self.items
    }
}
