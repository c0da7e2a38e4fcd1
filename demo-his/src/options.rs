//! What the generator is asked for.

use chrono::NaiveDate;

/// The same options give the same database.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorOptions {
    /// [`MIN_PATIENTS`] to [`MAX_PATIENTS`].
    pub patients: u32,
    pub seed: u64,
    /// "Today" for the data: contacts lie before it, current prescriptions run past it.
    pub anchor: NaiveDate,
}

pub const MIN_PATIENTS: u32 = 10;
pub const MAX_PATIENTS: u32 = 100_000;
