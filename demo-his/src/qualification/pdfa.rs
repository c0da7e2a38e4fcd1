//! The PDF/A qualification fixtures (patients XXX_Baltus, XXX_Schulte, XXX_Ellens) as
//! demo-his rows: each DocumentReference a row of `document`, its file the bytes of the Binary
//! fixture its attachment url names, its contained author a `medewerker`.
//!
//! Which documents are served follows from the fixtures as the scripts' default target reads
//! them: a `Binary/...` url whose Binary is not among the fixtures (XXX_Baltus's third
//! document, "foutieve-en-onbekend-id", meant for the Nictiz-internal target) is a document
//! whose file is missing: its row has no content, and the mapping serves only documents with
//! a file. An absolute url (XXX_Schulte's discharge summary) points to a file elsewhere; a
//! generated one-page PDF with its title stands in for it, as the HIS holds its documents
//! itself.

use super::fixture::{Element, Fixture};
use super::names::{self, Name};
use super::{identify, text, Fixtures, Keys};
use crate::parts::documents;
use crate::tables::{opt, yes_no, Tables};
use anyhow::{bail, Context};
use base64::Engine;
use dva_source_api::Value;
use std::collections::HashMap;

/// Fixture document types as the HIS's kinds (`document.soort`); the pdfa mapping set's
/// `documentsoort` table translates them back.
const KINDS: &[(&str, &str, &str)] = &[
    ("http://loinc.org", "68688-1", "ONTNCH"),
    ("http://loinc.org", "34781-5", "CONINF"),
    ("http://loinc.org", "34797-1", "CONNEU"),
    ("http://loinc.org", "68626-1", "ONTALL"),
    ("http://snomed.info/sct", "11071000146104", "ONTSL"),
    ("http://snomed.info/sct", "11051000146107", "VERW"),
];

/// The HIS's status letters (the mapping's `document-status` table).
fn status_code(status: Option<&str>) -> Option<&'static str> {
    match status? {
        "current" => Some("A"),
        "superseded" => Some("V"),
        "entered-in-error" => Some("F"),
        _ => None,
    }
}

/// Writes the documents of the PDF/A fixtures (their patients are already loaded: their keys
/// are in `keys`).
pub(super) fn load(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) -> anyhow::Result<()> {
    // One staff row per author name: the same specialist writes several letters.
    let mut authors: HashMap<(Option<String>, String), i64> = HashMap::new();
    for doc in fixtures.of_type("DocumentReference") {
        document(t, fixtures, keys, &mut authors, doc).with_context(|| format!("fixture {}", doc.file))?;
    }
    Ok(())
}

fn document(
    t: &mut Tables,
    fixtures: &Fixtures,
    keys: &mut Keys,
    authors: &mut HashMap<(Option<String>, String), i64>,
    doc: &Fixture,
) -> anyhow::Result<()> {
    let Some(patient) = keys.get(doc.reference("subject")) else {
        bail!("the subject is not a loaded patient");
    };
    let kind = doc
        .each("type.coding")
        .into_iter()
        .find_map(|c| KINDS.iter().find(|(s, code, _)| c.get("system") == Some(s) && c.get("code") == Some(code)))
        .map(|(_, _, kind)| *kind)
        .context("the document type has no document kind in demo-his")?;
    let status = status_code(doc.get("status")).context("the status has no demo-his code")?;
    let indexed = doc.datetime("indexed").context("no indexed date")?;
    let attachment = doc.first("content.attachment").context("no content.attachment")?;
    let title = attachment.get("title").or_else(|| doc.get("description")).unwrap_or("Document");
    let key = t.next_id("document");
    identify(t, "document", key, doc);
    keys.insert(doc, key);
    let content = match attachment.get("url") {
        Some(url) if url.starts_with("Binary/") => match fixtures.get(url) {
            Some(binary) => Some(binary_content(binary)?),
            None => None,
        },
        _ => {
            let lines = [
                format!("Patient: {}", doc.get("subject.display").unwrap_or_default()),
                format!("Datum: {}", indexed.format("%d-%m-%Y")),
                doc.get("description").unwrap_or_default().to_owned(),
                "Vervangt het bestand van de testset, dat buiten dit systeem staat.".to_owned(),
            ];
            Some(documents::pdf(title, &lines, indexed, key as u64))
        }
    };
    let author = doc.reference("author").and_then(|r| r.strip_prefix('#')).and_then(|id| {
        let practitioner = doc.each("contained.Practitioner").into_iter().find(|p| p.get("id") == Some(id))?;
        author_key(t, authors, practitioner)
    });
    t.add(
        "document",
        vec![
            Value::Int(key),
            Value::Int(patient),
            kind.into(),
            title.into(),
            Value::Timestamp(indexed),
            opt(author.map(Value::Int)),
            status.into(),
            format!("{}.pdf", doc.id).into(),
            attachment.get("contentType").unwrap_or("application/pdf").into(),
            opt(content.as_ref().map(|c| Value::Int(c.len() as i64))),
            opt(content.map(Value::Bytes)),
            text(doc.get("description")),
            text(attachment.get("language")),
            text(doc.code_in("securityLabel", "http://hl7.org/fhir/v3/Confidentiality")),
            // Not the fixture's masterIdentifier: the scripts warn when a server echoes it
            // (the server's documents are its own); the mapping gives each its own.
            Value::Null,
            Value::Null,
            yes_no(false),
        ],
    );
    Ok(())
}

/// The bytes of a Binary fixture.
fn binary_content(binary: &Fixture) -> anyhow::Result<Vec<u8>> {
    let text: String = binary.get("content").context("the Binary has no content")?.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .with_context(|| format!("the content of Binary {} is not base64", binary.id))
}

/// The staff key of a contained author, added the first time the name is seen.
fn author_key(
    t: &mut Tables,
    authors: &mut HashMap<(Option<String>, String), i64>,
    practitioner: &Element,
) -> Option<i64> {
    let name = Name::of(practitioner.first("name")?);
    let family = name.own.clone()?;
    let initials = name.initials.clone();
    if let Some(key) = authors.get(&(initials.clone(), family.clone())) {
        return Some(*key);
    }
    let key = t.next_id("medewerker");
    t.add(
        "medewerker",
        vec![
            Value::Int(key),
            // Specialists who wrote letters: the legacy table wants a practice; the first.
            Value::Int(1),
            Value::Null,
            Value::Null,
            names::column(&name.initials),
            names::column(&name.given),
            names::column(&name.own_prefix),
            Value::from(family.as_str()),
            "AS".into(),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            yes_no(false),
        ],
    );
    authors.insert((initials, family), key);
    Some(key)
}
