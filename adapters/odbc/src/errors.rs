//! ODBC diagnostics sorted into the connector's kinds of failure, by SQLSTATE.

use dva_source_api::SourceError;
use std::time::Duration;

pub fn classify(e: odbc_api::Error, timeout: Duration) -> SourceError {
    let (state, native) = match &e {
        odbc_api::Error::Diagnostics { record, .. } => (record.state.as_str().to_owned(), record.native_error),
        _ => (String::new(), 0),
    };
    let message = first_line(&e);
    match (state.as_str(), native) {
        // 08xxx: connection exceptions; HYT01: connection timeout.
        (s, _) if s.starts_with("08") || s == "HYT01" => SourceError::Unavailable(message),
        // HYT00: the query timeout; 57014: PostgreSQL cancelled it; 70100, or native 1969 and
        // 3024: MariaDB's and MySQL's statement time limits (whatever SQLSTATE the driver gives).
        ("HYT00" | "57014" | "70100", _) | (_, 1969 | 3024) => SourceError::Timeout(timeout),
        _ => SourceError::Statement(message),
    }
}

/// The driver's message without the diagnostic preamble odbc-api puts first.
fn first_line(e: &odbc_api::Error) -> String {
    let text = e.to_string();
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned()
}
