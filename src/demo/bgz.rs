//! The BgZ (hospital summary, zib2017) part of demo-his: the tables a hospital or GP system keeps
//! for the 28 BgZ requests, and their generated rows.
use super::generator::PatientContext;
use super::schema::TableDecl;
use super::tables::Tables;

pub(super) const TABLES: &[TableDecl] = &[];
pub(super) const INDEXES: &[TableDecl] = &[];

/// Adds this part of one generated patient's record.
pub(super) fn patient(_t: &mut Tables, _p: &PatientContext<'_>) {}
