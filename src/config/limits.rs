//! The range every number of the config may take. `validate`, start-up and reload check them
//! the same way (one checking path), so a value that passes can never make `serve` fail later.

use std::ops::RangeInclusive;

/// HTTP worker threads. Each holds up to `http::MAX_CONNECTIONS` connections; the systemd
/// unit's `LimitNOFILE` must leave room for workers × that.
pub const WORKERS: RangeInclusive<usize> = 1..=64;
/// `[fhir] default_count` and `max_count`: results per page.
pub const MAX_COUNT: RangeInclusive<usize> = 1..=5_000;
/// `[audit] retention_months`.
pub const RETENTION_MONTHS: RangeInclusive<u32> = 1..=600;
/// `[audit] checkpoint_interval_secs`: how often the trail's end is written to the log.
pub const CHECKPOINT_INTERVAL_SECS: RangeInclusive<u64> = 10..=86_400;
/// `[auth] max_clock_skew_secs`: how far the authorization server's clock may be off.
pub const MAX_CLOCK_SKEW_SECS: RangeInclusive<u64> = 0..=300;
/// `[auth] cache_max_secs`: how long an introspection answer is remembered.
pub const CACHE_MAX_SECS: RangeInclusive<u64> = 0..=3_600;
/// `[sources.*] pool_size`: connections to one legacy database.
pub const POOL_SIZE: RangeInclusive<u32> = 1..=256;
/// `[sources.*] statement_timeout_secs`.
pub const STATEMENT_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3_600;
/// `[sources.*] connect_timeout_secs`.
pub const CONNECT_TIMEOUT_SECS: RangeInclusive<u64> = 1..=300;
/// `[sources.*] max_rows`: rows one statement may return.
pub const MAX_ROWS: RangeInclusive<usize> = 1..=1_000_000;
