//! Documents in demo-his: letters and reports stored as PDF/A, for the PDF/A data service.
use super::generator::PatientContext;
use super::schema::TableDecl;
use super::tables::Tables;

pub(super) const TABLES: &[TableDecl] = &[];
pub(super) const INDEXES: &[TableDecl] = &[];

/// Adds this part of one generated patient's record.
pub(super) fn patient(_t: &mut Tables, _p: &PatientContext<'_>) {}
