//! Checks that a mapping keeps the MedMij response rules (shared/medmij.md §4.4) that can be
//! seen from its template, and that a set's references lead to resources the set serves.
//! Serving a BSN is an error; the rest are warnings.

use super::yaml::{Node, NodeKind};
use super::{CompiledMapping, IdType};
use crate::diagnostics::{Diagnostics, Pos};
use std::path::Path;

/// Types that MedMij wants readable (or included) wherever a resource refers to them.
const SECONDARY_TYPES: &[&str] =
    &["Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "RelatedPerson"];

/// A literal `reference` of a template: its type and the literal id text before the first
/// column (`Organization/practice-{praktijk_id}` -> `Organization`, `practice-`).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateReference {
    pub resource_type: String,
    pub id_prefix: String,
    pub pos: Pos,
}

/// The references a template writes, for [`check_references`].
pub fn references(node: &Node, out: &mut Vec<TemplateReference>) {
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter().for_each(|i| references(i, out)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                match (k.as_text(), v.as_text()) {
                    (Some("reference"), Some(text)) => {
                        let literal = text.split('{').next().unwrap_or_default();
                        if let Some((resource_type, id_prefix)) = literal.split_once('/') {
                            if !resource_type.is_empty() && resource_type.chars().all(|c| c.is_ascii_alphabetic()) {
                                out.push(TemplateReference {
                                    resource_type: resource_type.to_owned(),
                                    id_prefix: id_prefix.to_owned(),
                                    pos: v.pos,
                                });
                            }
                        }
                    }
                    _ => references(v, out),
                }
            }
        }
    }
}

/// Every literal reference of a set must name a mapping of that type whose ids it can match;
/// otherwise the PGO cannot resolve it (for secondary types a MedMij rule, for others a broken
/// link).
pub fn check_references(mappings: &[CompiledMapping], diags: &mut Diagnostics) {
    for m in mappings {
        for r in &m.references {
            let targets: Vec<&CompiledMapping> =
                mappings.iter().filter(|t| t.resource_type == r.resource_type).collect();
            let readable = targets.iter().any(|t| match r.id_prefix.strip_prefix(t.id.prefix.as_str()) {
                // Literal text after the target's prefix must be part of its key column, which
                // an integer key cannot hold.
                Some(rest) => rest.is_empty() || t.id.bind_as != IdType::Integer,
                None => t.id.prefix.starts_with(&r.id_prefix),
            });
            if readable {
                continue;
            }
            let why = if SECONDARY_TYPES.contains(&r.resource_type.as_str()) {
                " (MedMij rule: referenced patients, practitioners and organizations must be readable or included)"
            } else {
                ""
            };
            let message = if targets.is_empty() {
                format!(
                    "references `{}/...`, but no mapping of this set serves {}{why}",
                    r.resource_type, r.resource_type
                )
            } else {
                format!(
                    "references `{}/{}...`, but no {} mapping has ids like that (prefixes: {}){why}",
                    r.resource_type,
                    r.id_prefix,
                    r.resource_type,
                    targets.iter().map(|t| format!("`{}`", t.id.prefix)).collect::<Vec<_>>().join(", ")
                )
            };
            diags.warning(&m.file, r.pos, message);
        }
    }
}

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
    if path.rsplit('.').next() == Some("identifier")
        && !((has("system") || has("type")) && (has("value") || has("_value")))
    {
        diags.warning(
            file,
            node.pos,
            format!("`{path}`: every Identifier needs a `system` (or `type`) and a `value` (MedMij rule)"),
        );
    }
    if let Some(codings) = node.get("coding").and_then(Node::as_seq) {
        // A coding from a code table (`{code | map: table}`) may bring its own display.
        let displayed = codings.iter().any(|c| c.as_text().is_some() || c.get("display").is_some());
        if !displayed && !has("text") && !has("extension") {
            diags.warning(
                file,
                node.pos,
                format!("`{path}`: a CodeableConcept needs a coding `display`, a `text` or an extension (MedMij rule)"),
            );
        }
    }
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
