//! SQL text from mapping files with named parameters (`:patient`), split once at load so
//! that rendering for a dialect is a concatenation with positional placeholders.

use dva_source_api::SqlStyle;

/// A piece of SQL text or a named parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlPart {
    Text(String),
    Param(String),
}

/// SQL from a mapping file, split at its named parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlText {
    pub parts: Vec<SqlPart>,
}

impl SqlText {
    /// Splits `sql` at `:name` parameters, skipping string literals, quoted identifiers,
    /// comments and PostgreSQL `::` casts. A trailing `;` is dropped so the statement can be
    /// wrapped as a subquery.
    pub fn parse(sql: &str) -> SqlText {
        let sql = sql.trim().trim_end_matches(';').trim_end();
        let bytes = sql.as_bytes();
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                b'\'' | b'"' | b'`' => {
                    let end = find_closing(bytes, i + 1, c);
                    text.push_str(&sql[i..end]);
                    i = end;
                }
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    let end = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                    text.push_str(&sql[i..end]);
                    i = end;
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    let end = sql[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
                    text.push_str(&sql[i..end]);
                    i = end;
                }
                b':' if bytes.get(i + 1) == Some(&b':') => {
                    text.push_str("::");
                    i += 2;
                }
                b':' if bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                        end += 1;
                    }
                    if !text.is_empty() {
                        parts.push(SqlPart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(SqlPart::Param(sql[start..end].to_owned()));
                    i = end;
                }
                _ => {
                    let ch_len = sql[i..].chars().next().map_or(1, char::len_utf8);
                    text.push_str(&sql[i..i + ch_len]);
                    i += ch_len;
                }
            }
        }
        if !text.is_empty() {
            parts.push(SqlPart::Text(text));
        }
        SqlText { parts }
    }

    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            SqlPart::Param(name) => Some(name.as_str()),
            SqlPart::Text(_) => None,
        })
    }

    /// Renders for `style`, numbering placeholders from `*next_bind` and returning the
    /// parameter names in bind order.
    pub fn render(&self, style: SqlStyle, next_bind: &mut usize, out: &mut String) -> Vec<String> {
        let mut names = Vec::new();
        for part in &self.parts {
            match part {
                SqlPart::Text(t) => out.push_str(t),
                SqlPart::Param(name) => {
                    out.push_str(&style.placeholder(*next_bind));
                    *next_bind += 1;
                    names.push(name.clone());
                }
            }
        }
        names
    }
}

/// Words that make a statement more than a read: data changes (also inside a PostgreSQL
/// `WITH`), `SELECT ... INTO` (creates a table), DDL, locks (`FOR UPDATE`), calls.
const NOT_A_READ: &[&str] = &[
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "TRUNCATE", "DROP", "ALTER", "CREATE", "GRANT", "REVOKE",
    "EXEC", "EXECUTE", "CALL", "COPY", "LOCK", "VACUUM", "ATTACH", "DETACH", "PRAGMA",
];

impl SqlText {
    /// Why this is not one read-only `SELECT` (or `WITH ... SELECT`), if it is not: the first
    /// word, a second statement after `;`, or a word that writes or locks. Literals, quoted
    /// names and comments are not looked into. The database's read-only session stays the
    /// guarantee; this tells the operator at `validate` instead of at the first request.
    pub fn read_only_problem(&self) -> Option<String> {
        let mut words = Vec::new();
        for part in &self.parts {
            let SqlPart::Text(text) = part else { continue };
            if let Some(problem) = scan_words(text, &mut words) {
                return Some(problem);
            }
        }
        match words.first().map(String::as_str) {
            Some("SELECT" | "WITH") => {}
            Some(first) => return Some(format!("the query must be one SELECT (or WITH ... SELECT), not `{first}`")),
            None => return Some("the query is empty".into()),
        }
        let mut previous = "";
        for word in &words {
            if NOT_A_READ.contains(&word.as_str()) || word == "SHARE" && matches!(previous, "FOR" | "KEY") {
                return Some(format!("the query must only read; `{word}` writes, creates or locks"));
            }
            previous = word;
        }
        None
    }
}

/// Collects the upper-cased words of SQL text outside literals, quoted names and comments;
/// a `;` is a problem (the trailing one was dropped by [`SqlText::parse`]).
fn scan_words(sql: &str, words: &mut Vec<String>) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => i = find_closing(bytes, i + 1, q),
            b'[' => i = sql[i..].find(']').map_or(bytes.len(), |n| i + n + 1),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(bytes.len(), |n| i + 2 + n + 2)
            }
            b';' => return Some("the query holds more than one statement (a `;` before its end)".into()),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$') {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_uppercase());
            }
            _ => i += 1,
        }
    }
    None
}

/// Index just past the closing quote, honouring doubled quotes as escapes.
fn find_closing(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Whether `name` is a plain SQL identifier (optionally qualified), safe to place in SQL.
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_named_params_outside_literals_and_casts() {
        let sql = SqlText::parse(
            "SELECT a::text, ':no' AS x -- :nope\nFROM t /* :no */ WHERE p = :patient AND q = :patient;",
        );
        assert_eq!(sql.params().collect::<Vec<_>>(), ["patient", "patient"]);
        let mut out = String::new();
        let mut n = 1;
        sql.render(dva_source_api::Dialect::Postgres.into(), &mut n, &mut out);
        assert_eq!(out, "SELECT a::text, ':no' AS x -- :nope\nFROM t /* :no */ WHERE p = $1 AND q = $2");
        assert_eq!(n, 3);
    }

    #[test]
    fn only_one_read_only_select_passes() {
        let problem = |sql: &str| SqlText::parse(sql).read_only_problem();
        assert_eq!(problem("SELECT a FROM t WHERE p = :patient;"), None);
        assert_eq!(problem("WITH x AS (SELECT 1 AS a) SELECT a, update_date FROM x -- DELETE"), None);
        assert_eq!(problem("SELECT 'DELETE; INTO' AS \"update\", [drop] FROM t /* UPDATE */"), None);
        assert!(problem("DELETE FROM t WHERE p = :patient").is_some_and(|p| p.contains("not `DELETE`")));
        assert!(problem("SELECT 1; DELETE FROM t").is_some_and(|p| p.contains("more than one statement")));
        assert!(problem("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").is_some_and(|p| p.contains("DELETE")));
        assert!(problem("SELECT * INTO copy FROM t").is_some_and(|p| p.contains("INTO")));
        assert!(problem("SELECT * FROM t FOR UPDATE").is_some());
        assert!(problem("SELECT * FROM t FOR SHARE").is_some());
        assert!(problem("  ").is_some());
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("pat_id"));
        assert!(is_identifier("q.pat_id"));
        assert!(!is_identifier("pat_id; DROP"));
        assert!(!is_identifier("1abc"));
    }
}
