//! Checks a template's element names against the FHIR definitions of its version, so that a
//! typo (`valueQuantiy`) or a wrong nesting is a `validate` error at its line and column, not
//! a resource the XML writer must refuse at run time.

use super::yaml::{Node, NodeKind};
use crate::diagnostics::{quoted, Diagnostics, Pos};
use crate::fhir::{element, repeats, ElementKind, FhirVersion};
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
        check_cardinality(file, version, parent, name, key.pos, value, diags);
        match element(version, parent, name) {
            None => diags.error(
                file,
                key.pos,
                format!("`{}` is not an element of {} in FHIR {}", quoted(name), shown(parent), version.name()),
            ),
            Some(ElementKind::Complex(child)) => {
                if items(value).any(|i| i.get("$value").is_some()) {
                    diags.error(file, key.pos, format!("`{name}` is not a primitive: `$value` is only for primitives"));
                }
                walk_value(file, version, child, value, diags);
            }
            Some(ElementKind::Primitive) => {
                // A primitive is a value, or `$value` with the primitive's own id and extensions.
                for item in items(value).filter(|i| i.as_map().is_some()) {
                    if item.get("$value").is_some() {
                        walk_object(file, version, "Element", item, diags);
                    } else {
                        diags.error(
                            file,
                            key.pos,
                            format!(
                                "`{name}` is a primitive of {}: give it a value, or `$value:` with its extensions",
                                shown(parent)
                            ),
                        );
                    }
                }
                let extended = items(value).any(|i| i.get("$value").is_some());
                if extended && entries.iter().any(|(k, _)| k.as_text() == Some(&format!("_{name}"))) {
                    diags.error(
                        file,
                        key.pos,
                        format!("`{name}` has `$value` items and a `_{name}`: give its extensions in one place"),
                    );
                }
            }
            Some(ElementKind::Xhtml) => {
                // Markup from a column would reach the PGO as markup: text only through `xhtml`.
                let text = value.as_text().unwrap_or_default().trim();
                let escaped = text.starts_with('{')
                    && text.ends_with('}')
                    && text.matches('{').count() == 1
                    && text[..text.len() - 1].rsplit('|').next().is_some_and(|f| f.trim() == "xhtml");
                if text.contains('{') && !escaped {
                    diags.error(
                        file,
                        key.pos,
                        format!("`{name}` is XHTML: write it as \"{{column | xhtml}}\", which escapes the text"),
                    );
                } else if !text.contains('{') && !is_xhtml_div(text) {
                    // A literal is written as it is: it must be an XHTML div already.
                    diags.error(
                        file,
                        key.pos,
                        format!("`{name}` must be a well-formed <div xmlns=\"http://www.w3.org/1999/xhtml\">...</div>"),
                    );
                }
            }
            Some(ElementKind::Resource) => {}
        }
    }
}

/// FHIR JSON writes a repeating element as an array, always, and any other as a single value:
/// a template that does otherwise gives resources other implementations reject.
fn check_cardinality(
    file: &Path,
    version: FhirVersion,
    parent: &str,
    name: &str,
    pos: Pos,
    value: &Node,
    diags: &mut Diagnostics,
) {
    // A choice element (`valueQuantity`) is defined once as `value[x]`; none of them repeats.
    let Some(ElementKind::Primitive | ElementKind::Complex(_) | ElementKind::Resource) = element(version, parent, name)
    else {
        return;
    };
    let is_list = value.as_seq().is_some();
    // A code-table value (`{code | map: table}`) may be a whole object or list: checked when run.
    if value.as_text().is_some_and(|t| t.contains("| map:")) {
        return;
    }
    if repeats(version, parent, name) && !is_list {
        diags.error(file, pos, format!("`{name}` repeats in {}: write it as a list (`- ...`)", shown(parent)));
    } else if !repeats(version, parent, name) && is_list {
        diags.error(
            file,
            pos,
            format!("`{name}` occurs at most once in {}: write one value, not a list", shown(parent)),
        );
    }
}

/// Whether `text` is one well-formed `div` element in the XHTML namespace.
fn is_xhtml_div(text: &str) -> bool {
    roxmltree::Document::parse(text).is_ok_and(|doc| {
        let root = doc.root_element();
        root.tag_name().name() == "div" && root.tag_name().namespace() == Some("http://www.w3.org/1999/xhtml")
    })
}

/// The node itself, or the items of a list.
fn items(node: &Node) -> impl Iterator<Item = &Node> {
    node.as_seq().map(|s| s.iter().collect::<Vec<_>>()).unwrap_or_else(|| vec![node]).into_iter()
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
