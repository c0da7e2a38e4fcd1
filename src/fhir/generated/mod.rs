//! Tables generated from the official FHIR definitions by `scripts/gen-fhir-tables.py`.
pub mod r4;
pub mod stu3;
