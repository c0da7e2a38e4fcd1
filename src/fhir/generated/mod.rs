//! Tables generated from the official FHIR definitions by `scripts/gen-fhir-tables.py`.
//! Not formatted by rustfmt: `scripts/gen-fhir-tables.py --check` compares them byte for byte.
#[rustfmt::skip]
pub mod r4;
#[rustfmt::skip]
pub mod stu3;
