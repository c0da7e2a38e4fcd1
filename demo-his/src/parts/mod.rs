//! The parts of a generated record. The GP part comes first and says what the others need of
//! the patient ([`PatientContext`]); each part draws from its own random stream, so adding to
//! one never changes the data of the others.

pub(crate) mod bgz;
pub(crate) mod documents;
pub(crate) mod gp;

use crate::options::GeneratorOptions;
use chrono::NaiveDate;

/// What the GP part made of a patient, for the other parts.
pub(crate) struct Patient {
    pub index: u32,
    pub pat_id: i64,
    /// Given name and family name (with its prefix), as a display.
    pub name: String,
    /// The patient's GP (`medewerker.med_id`).
    pub gp: i64,
    /// The contacts that are not deleted: `contact_id` and day.
    pub contacts: Vec<(i64, NaiveDate)>,
}

impl Patient {
    pub fn context<'a>(&'a self, opts: &GeneratorOptions) -> PatientContext<'a> {
        PatientContext {
            index: self.index,
            pat_id: self.pat_id,
            name: &self.name,
            gp: self.gp,
            seed: opts.seed,
            anchor: opts.anchor,
            contacts: &self.contacts,
        }
    }
}

/// What the other parts of a generated record know of its patient.
pub(crate) struct PatientContext<'a> {
    /// 0-based patient number; `Rng::for_patient(seed, salt, index)` gives a stream.
    pub index: u32,
    pub pat_id: i64,
    pub name: &'a str,
    pub gp: i64,
    pub seed: u64,
    /// "Today" for the data.
    pub anchor: NaiveDate,
    pub contacts: &'a [(i64, NaiveDate)],
}
