//! The PDF/A qualification fixtures (documents and their PDFs) as demo-his rows.

use super::{Fixtures, Keys};
use crate::demo::tables::Tables;

/// Writes this service's qualification fixtures as rows (patients, practitioners and
/// organizations are already loaded: their keys are in `keys`).
pub(super) fn load(_t: &mut Tables, _fixtures: &Fixtures, _keys: &mut Keys) -> anyhow::Result<()> {
    Ok(())
}
