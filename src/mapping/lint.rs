//! Checks that a mapping keeps the MedMij response rules (shared/medmij.md §4.4) that can be
//! seen from its template. Serving a BSN is an error; the rest are warnings.

use super::diagnostic::Diagnostics;
use super::yaml::{Node, NodeKind};
use std::path::Path;

const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
const ZIB_VALUESET_OID: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.2";

/// Walks a template node; `path` is the FHIR element path so far.
pub fn check(file: &Path, node: &Node, path: &str, diags: &mut Diagnostics) {
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter().for_each(|i| check(file, i, path, diags)),
        NodeKind::Map(entries) => {
            check_object(file, node, path, diags);
            for (k, v) in entries {
                let key = k.as_text().unwrap_or_default();
                let child = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
                check(file, v, &child, diags);
            }
        }
    }
}

fn check_object(file: &Path, node: &Node, path: &str, diags: &mut Diagnostics) {
    let has = |k: &str| node.get(k).is_some();
    if has("reference") && !has("display") {
        diags.warning(file, node.pos, format!("`{path}`: a Reference must have a `display` (MedMij rule)"));
    }
    if path.rsplit('.').next() == Some("coding") && !(has("system") && has("code")) {
        diags.warning(file, node.pos, format!("`{path}`: every Coding needs both `system` and `code` (MedMij rule)"));
    }
    let system = node.get("system").and_then(Node::as_text).unwrap_or_default();
    if system == BSN_SYSTEM && has("value") {
        diags.error(
            file,
            node.pos,
            format!("`{path}`: a BSN must never be served; mask it with `_value` and a data-absent-reason extension `masked`"),
        );
    }
    if system.starts_with(ZIB_VALUESET_OID) {
        diags.warning(
            file,
            node.pos,
            format!("`{path}`: `{system}` is a zib value set, not a code system (MedMij rule)"),
        );
    }
}
