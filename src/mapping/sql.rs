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
    fn identifiers() {
        assert!(is_identifier("pat_id"));
        assert!(is_identifier("q.pat_id"));
        assert!(!is_identifier("pat_id; DROP"));
        assert!(!is_identifier("1abc"));
    }
}
