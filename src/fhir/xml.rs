//! FHIR XML from FHIR JSON, with element order, primitive `value` attributes, `_element`
//! extensions and ids, contained resources and xhtml narrative, per the definitions of the
//! version served (tables generated from the official definitions; see `generated/`).

use super::generated::{r4, stu3};
use super::FhirVersion;
use serde_json::{Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::LazyLock;

/// One version's tables, indexed once.
struct Definitions {
    elements: HashMap<&'static str, &'static [(&'static str, &'static str)]>,
    repeating: HashMap<&'static str, &'static [&'static str]>,
    primitives: HashSet<&'static str>,
    aliases: HashMap<&'static str, &'static str>,
}

impl Definitions {
    fn new(
        elements: &'static [(&'static str, &'static [(&'static str, &'static str)])],
        repeating: &'static [(&'static str, &'static [&'static str])],
        primitives: &'static [&'static str],
        aliases: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self {
            elements: elements.iter().copied().collect(),
            repeating: repeating.iter().copied().collect(),
            primitives: primitives.iter().copied().collect(),
            aliases: aliases.iter().copied().collect(),
        }
    }

    fn key<'a>(&self, type_or_path: &'a str) -> &'a str {
        let key = type_or_path.strip_prefix('@').unwrap_or(type_or_path);
        self.aliases.get(key).copied().unwrap_or(key)
    }

    fn children(&self, type_or_path: &str) -> Option<&'static [(&'static str, &'static str)]> {
        self.elements.get(self.key(type_or_path)).copied()
    }
}

/// Whether the element `name` (its definition name, e.g. `identifier` or `value[x]`) of
/// `parent` repeats: a JSON array (max above 1 in the definitions).
pub fn repeats(version: FhirVersion, parent: &str, name: &str) -> bool {
    let defs: &Definitions = match version {
        FhirVersion::Stu3 => &STU3,
        FhirVersion::R4 => &R4,
    };
    defs.repeating.get(defs.key(parent)).is_some_and(|names| names.contains(&name))
}

/// What an element of a type is, for the writer and for checking templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElementKind {
    Primitive,
    /// A datatype name, or `@Path` for a backbone element.
    Complex(&'static str),
    Resource,
    Xhtml,
}

/// The element `key` (as it appears in JSON, e.g. `valueQuantity`) of `parent` (a type name or
/// `@Path`), in `version`; `None` when the definitions have no such element.
pub fn element(version: FhirVersion, parent: &str, key: &str) -> Option<ElementKind> {
    let defs: &Definitions = match version {
        FhirVersion::Stu3 => &STU3,
        FhirVersion::R4 => &R4,
    };
    let children = defs.children(parent)?;
    let kind = children.iter().find_map(|(name, kind)| match name.strip_suffix("[x]") {
        Some(base) => key.strip_prefix(base).and_then(|suffix| kind.split('|').find(|t| capitalize(t) == suffix)),
        None => (*name == key).then_some(*kind),
    })?;
    Some(match kind {
        "xhtml" => ElementKind::Xhtml,
        "Resource" => ElementKind::Resource,
        k if defs.primitives.contains(k) => ElementKind::Primitive,
        k => ElementKind::Complex(k),
    })
}

static STU3: LazyLock<Definitions> =
    LazyLock::new(|| Definitions::new(stu3::ELEMENTS, stu3::REPEATING, stu3::PRIMITIVES, stu3::ALIASES));
static R4: LazyLock<Definitions> =
    LazyLock::new(|| Definitions::new(r4::ELEMENTS, r4::REPEATING, r4::PRIMITIVES, r4::ALIASES));

/// Why JSON could not be written as XML: an element the definitions do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write {path} as FHIR XML: {reason}")]
pub struct XmlError {
    pub path: String,
    pub reason: String,
}

/// A resource (with `resourceType`) as an XML document.
pub fn to_xml(version: FhirVersion, resource: &Json) -> Result<String, XmlError> {
    let defs: &Definitions = match version {
        FhirVersion::Stu3 => &STU3,
        FhirVersion::R4 => &R4,
    };
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_resource(defs, resource, &mut out, true)?;
    Ok(out)
}

fn write_resource(defs: &Definitions, resource: &Json, out: &mut String, root: bool) -> Result<(), XmlError> {
    let object = resource.as_object().ok_or_else(|| error("resource", "not an object"))?;
    let kind = object.get("resourceType").and_then(Json::as_str).ok_or_else(|| error("resource", "no resourceType"))?;
    let children = defs.children(kind).ok_or_else(|| error(kind, "unknown resource type"))?;
    out.push('<');
    out.push_str(kind);
    if root {
        out.push_str(" xmlns=\"http://hl7.org/fhir\"");
    }
    out.push('>');
    write_children(defs, kind, children, object, out)?;
    let _ = write!(out, "</{kind}>");
    Ok(())
}

/// The members of `object` in definition order; members the definitions lack are an error.
fn write_children(
    defs: &Definitions,
    path: &str,
    children: &[(&str, &str)],
    object: &Map<String, Json>,
    out: &mut String,
) -> Result<(), XmlError> {
    let mut written = 0;
    for (name, kind) in children {
        if let Some(base) = name.strip_suffix("[x]") {
            for candidate in kind.split('|') {
                let key = format!("{base}{}", capitalize(candidate));
                if object.contains_key(&key) || object.contains_key(&format!("_{key}")) {
                    written += write_element(defs, &format!("{path}.{key}"), &key, candidate, object, out)?;
                }
            }
        } else if object.contains_key(*name) || object.contains_key(&format!("_{name}")) {
            written += write_element(defs, &format!("{path}.{name}"), name, kind, object, out)?;
        }
    }
    let expected = object.keys().filter(|k| *k != "resourceType" && !k.starts_with('_')).count()
        + object.keys().filter(|k| k.starts_with('_') && !object.contains_key(&k[1..])).count();
    if written != expected {
        let known: HashSet<String> = children
            .iter()
            .flat_map(|(n, k)| match n.strip_suffix("[x]") {
                Some(base) => k.split('|').map(|t| format!("{base}{}", capitalize(t))).collect::<Vec<_>>(),
                None => vec![(*n).to_owned()],
            })
            .collect();
        let unknown = object.keys().find(|k| *k != "resourceType" && !known.contains(k.trim_start_matches('_')));
        return Err(error(path, &format!("unknown element `{}`", unknown.map_or("?", |k| k.as_str()))));
    }
    Ok(())
}

/// Writes one element (every repetition of it); returns how many JSON members it used.
fn write_element(
    defs: &Definitions,
    path: &str,
    name: &str,
    kind: &str,
    object: &Map<String, Json>,
    out: &mut String,
) -> Result<usize, XmlError> {
    let value = object.get(name);
    let extra = object.get(&format!("_{name}"));
    let used = usize::from(value.is_some()) + usize::from(extra.is_some() && value.is_none());
    let as_list = |v: Option<&Json>| -> Vec<Json> {
        match v {
            Some(Json::Array(items)) => items.clone(),
            Some(other) => vec![other.clone()],
            None => Vec::new(),
        }
    };
    let (values, extras) = (as_list(value), as_list(extra));
    for i in 0..values.len().max(extras.len()) {
        let v = values.get(i).filter(|v| !v.is_null());
        let x = extras.get(i).filter(|x| !x.is_null());
        if kind == "xhtml" {
            // The narrative is XHTML already, with its own namespace.
            out.push_str(v.and_then(Json::as_str).unwrap_or_default());
        } else if kind == "Resource" {
            let _ = write!(out, "<{name}>");
            write_resource(defs, v.ok_or_else(|| error(path, "an empty resource"))?, out, false)?;
            let _ = write!(out, "</{name}>");
        } else if defs.primitives.contains(kind) {
            write_primitive(defs, path, name, v, x, out)?;
        } else {
            let object = v.and_then(Json::as_object).ok_or_else(|| error(path, "expected an object"))?;
            let children = defs.children(kind).ok_or_else(|| error(path, &format!("unknown type {kind}")))?;
            let _ = write!(out, "<{name}");
            write_id_attribute(object.get("id"), out);
            // An extension's url is an attribute in XML, not an element.
            let url_attribute = kind == "Extension";
            if url_attribute {
                if let Some(url) = object.get("url").and_then(Json::as_str) {
                    out.push_str(" url=\"");
                    escape_into(url, out);
                    out.push('"');
                }
            }
            out.push('>');
            let attributes: &[&str] = if url_attribute { &["id", "url"] } else { &["id"] };
            let rest: Map<String, Json> = object
                .iter()
                .filter(|(k, _)| !attributes.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            write_children(defs, path, children, &rest, out)?;
            let _ = write!(out, "</{name}>");
        }
    }
    Ok(used)
}

fn write_primitive(
    defs: &Definitions,
    path: &str,
    name: &str,
    value: Option<&Json>,
    extra: Option<&Json>,
    out: &mut String,
) -> Result<(), XmlError> {
    let _ = write!(out, "<{name}");
    if let Some(x) = extra.and_then(Json::as_object) {
        write_id_attribute(x.get("id"), out);
    }
    if let Some(v) = value {
        out.push_str(" value=\"");
        escape_into(&primitive_text(v), out);
        out.push('"');
    }
    match extra.and_then(Json::as_object).and_then(|x| x.get("extension")) {
        Some(extensions) => {
            out.push('>');
            let wrapper: Map<String, Json> = [("extension".to_owned(), extensions.clone())].into_iter().collect();
            write_children(defs, path, &[("extension", "Extension")], &wrapper, out)?;
            let _ = write!(out, "</{name}>");
        }
        None => out.push_str("/>"),
    }
    Ok(())
}

fn write_id_attribute(id: Option<&Json>, out: &mut String) {
    if let Some(id) = id.and_then(Json::as_str) {
        out.push_str(" id=\"");
        escape_into(id, out);
        out.push('"');
    }
}

fn primitive_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

fn capitalize(t: &str) -> String {
    let mut chars = t.chars();
    chars.next().map_or_else(String::new, |f| f.to_ascii_uppercase().to_string() + chars.as_str())
}

fn error(path: &str, reason: &str) -> XmlError {
    XmlError { path: path.to_owned(), reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_in_definition_order_with_value_attributes_and_primitive_extensions() {
        // JSON in a different order than the definition: XML must follow the definition.
        let patient = json!({
            "resourceType": "Patient",
            "gender": "female",
            "id": "p1",
            "identifier": [{"_value": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}]},
                            "system": "http://fhir.nl/fhir/NamingSystem/bsn"}],
            "name": [{"given": ["Jan", "Piet"], "_given": [null, {"id": "g2"}], "family": "Jansen & Zn"}],
            "birthDate": "1964-07-25"
        });
        let xml = to_xml(FhirVersion::Stu3, &patient).expect("xml");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Patient xmlns=\"http://hl7.org/fhir\"><id value=\"p1\"/>\
             <identifier><system value=\"http://fhir.nl/fhir/NamingSystem/bsn\"/><value><extension url=\"http://hl7.org/fhir/StructureDefinition/data-absent-reason\"><valueCode value=\"masked\"/></extension></value></identifier>\
             <name><family value=\"Jansen &amp; Zn\"/><given value=\"Jan\"/><given id=\"g2\" value=\"Piet\"/></name>\
             <gender value=\"female\"/><birthDate value=\"1964-07-25\"/></Patient>"
        );
    }

    #[test]
    fn choice_types_backbones_numbers_and_contained_resources() {
        // Parsed from text, as the engine's numbers are: 5.40 keeps its digits.
        let obs: Json = serde_json::from_str(
            r#"{"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "glucose"},
                "valueQuantity": {"value": 5.40, "code": "mmol/L"}, "referenceRange": [{"low": {"value": 3.5}}]}"#,
        )
        .expect("json");
        let xml = to_xml(FhirVersion::Stu3, &obs).expect("xml");
        assert!(xml.contains("<valueQuantity><value value=\"5.40\"/><code value=\"mmol/L\"/></valueQuantity><referenceRange><low><value value=\"3.5\"/></low></referenceRange>"), "{xml}");
        let bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "http://x/Observation/o", "resource": obs, "search": {"mode": "match"}}]});
        let xml = to_xml(FhirVersion::Stu3, &bundle).expect("xml");
        assert!(
            xml.contains("<entry><fullUrl value=\"http://x/Observation/o\"/><resource><Observation><id value=\"o\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<search><mode value=\"match\"/></search></entry>"), "{xml}");
    }

    #[test]
    fn unknown_elements_are_an_error_not_silently_dropped() {
        let err = to_xml(FhirVersion::Stu3, &json!({"resourceType": "Patient", "colour": "red"})).expect_err("unknown");
        assert!(err.to_string().contains("colour"), "{err}");
        assert!(to_xml(FhirVersion::R4, &json!({"resourceType": "ProcedureRequest"})).is_err());
    }
}
