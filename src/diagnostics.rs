//! Problems found while loading config and mapping files, reported all at once as
//! `file:line:column: message`, the positions they are reported at, and how any message
//! quotes a value from a request or a file. A leaf: the config and the mapping compiler
//! report through it, and every error message quotes through it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The start of a file: where problems of the file as a whole are reported.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

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

/// A config or mapping file's text: UTF-8, a leading byte-order mark dropped (editors on
/// Windows write one), and no NUL byte (the YAML reader would stop there and silently lose
/// the rest of the file). `Err` gives where and why.
pub fn read_source(path: &Path) -> Result<String, (Pos, String)> {
    let bytes = std::fs::read(path).map_err(|e| (Pos::START, format!("cannot read file: {e}")))?;
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            return Err((position_in(valid, valid.len()), "the file is not UTF-8 text".into()));
        }
    };
    if let Some(at) = text.find('\0') {
        return Err((position_in(text, at), "the file contains a NUL byte; it must be plain text".into()));
    }
    Ok(text.to_owned())
}

/// The most characters of a value that a message quotes.
const QUOTED_CHARS: usize = 80;

/// A value from a request or a file as a message quotes it: at most 80 characters (then `…`),
/// control characters escaped (`\n`, `\u{1b}`), so a quoted value can neither flood a message
/// nor start a line of its own in a log.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(QUOTED_CHARS + 4));
    for (i, c) in text.chars().enumerate() {
        if i == QUOTED_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Line and column (1-based) of a byte offset in `text`.
pub fn position_in(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quotes_are_short_and_on_one_line() {
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(quoted("a\nFAKE log line\r\u{1b}[31m"), "a\\nFAKE log line\\r\\u{1b}[31m");
        let long = "é".repeat(200);
        assert_eq!(quoted(&long), format!("{}…", "é".repeat(80)));
        assert_eq!(quoted(&"x".repeat(80)), "x".repeat(80));
    }
}
