//! Checks a template's element names against the FHIR definitions of its version, so that a
//! typo (`valueQuantiy`) or a wrong nesting is a `validate` error at its line and column, not
//! a resource the XML writer must refuse at run time.

use super::diagnostic::Diagnostics;
use super::yaml::{shorten, Node, NodeKind};
use crate::fhir::{element, ElementKind, FhirVersion};
use std::path::Path;

/// Walks the template of a `resource_type` mapping.
pub fn check(file: &Path, version: FhirVersion, resource_type: &str, template: &Node, diags: &mut Diagnostics) {
    walk_object(file, version, resource_type, template, diags);
}

fn walk_object(file: &Path, version: FhirVersion, parent: &str, node: &Node, diags: &mut Diagnostics) {
    let Some(entries) = node.as_map() else { return };
    for (key, value) in entries {
        let name = key.as_text().unwrap_or_default();
        if name.starts_with('$') {
            continue;
        }
        // `_name` carries the id and extensions of the primitive `name`.
        if let Some(primitive) = name.strip_prefix('_') {
            match element(version, parent, primitive) {
                Some(ElementKind::Primitive) => walk_value(file, version, "Element", value, diags),
                _ => diags.error(
                    file,
                    key.pos,
                    format!("`{name}`: `{primitive}` is not a primitive element of {}", shown(parent)),
                ),
            }
            continue;
        }
        match element(version, parent, name) {
            None => diags.error(
                file,
                key.pos,
                format!("`{}` is not an element of {} in FHIR {}", shorten(name), shown(parent), version.name()),
            ),
            Some(ElementKind::Complex(child)) => walk_value(file, version, child, value, diags),
            Some(ElementKind::Primitive) => {
                if matches!(value.kind, NodeKind::Map(_))
                    || value.as_seq().is_some_and(|s| s.iter().any(|i| i.as_map().is_some()))
                {
                    diags.error(
                        file,
                        key.pos,
                        format!("`{name}` is a primitive of {}: give it a value, not a mapping", shown(parent)),
                    );
                }
            }
            Some(ElementKind::Resource | ElementKind::Xhtml) => {}
        }
    }
}

fn walk_value(file: &Path, version: FhirVersion, parent: &str, node: &Node, diags: &mut Diagnostics) {
    match &node.kind {
        NodeKind::Map(_) => walk_object(file, version, parent, node, diags),
        NodeKind::Seq(items) => items.iter().for_each(|i| walk_value(file, version, parent, i, diags)),
        // A code table may yield a whole object: checked when the row is evaluated.
        NodeKind::Scalar { .. } => {}
    }
}

fn shown(parent: &str) -> &str {
    parent.strip_prefix('@').unwrap_or(parent)
}
