//! The limits of one request, the same on every database. They are checked on the query
//! string before any SQL is built, so a database's own limits (expression depth, binds per
//! statement, items in an `IN` list) are never what stops a request.
//!
//! Worst case under these limits: 200 values, each at most 4 binds (a date against a period),
//! so 800 binds plus the mapping's own; SQL Server, the strictest, takes 2,100.

/// Bytes of the raw (percent-encoded) query string.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Parameters (`name=value` pairs) in one query string, `_count` and `_include` included.
pub const MAX_PARAMETERS: usize = 32;
/// Comma-separated values of one search parameter (`code=a,b,c` has three).
pub const MAX_VALUES_PER_PARAMETER: usize = 100;
/// Search values in one request, over all its parameters.
pub const MAX_VALUES: usize = 200;
/// Bytes of one decoded search value (one item of a comma-separated list).
pub const MAX_VALUE_BYTES: usize = 256;

/// The limits as a person reads them, for documentation and `explain`.
pub fn describe() -> String {
    format!(
        "query string {MAX_QUERY_BYTES} bytes; {MAX_PARAMETERS} parameters; {MAX_VALUES_PER_PARAMETER} values per \
         parameter; {MAX_VALUES} values per request; {MAX_VALUE_BYTES} bytes per value"
    )
}
