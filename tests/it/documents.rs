//! The PDF/A documents service ("Documenten") over HTTP: DocumentReference searches against
//! counts computed with SQL on the demo database, the Binary as a resource (JSON, XML) and as
//! the PDF itself, who may read it, and the errors the PDF/A qualification scripts expect.

use crate::harness::{
    demo_db, demo_options, get_url, repo_mappings, resources, self_link, serve_config, spawn_custom, write_config_with,
    TestApp, BASE_PATH,
};
use base64::Engine;
use chrono::{Duration, NaiveDate};
use dva_source_api::{RowSource, Statement, Value};
use dva_source_diesel::{SourceLimits, SqliteSource};
use serde_json::Value as Json;
use std::io::Read;
use std::path::Path;

const PDFA_PATH: &str = "/fhir/stu3/pdfa";

fn pdfa_service() -> String {
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/pdfa");
    format!(
        "\n[[services]]\nname = \"pdfa\"\nbase_path = \"{PDFA_PATH}\"\nmappings = \"{}\"\nsource = \"ehr\"\n",
        mappings.display()
    )
}

/// A server of the gp-data set (as every test server) plus the repository's pdfa set; the
/// base URL of the pdfa service.
fn spawn_pdfa() -> (TestApp, String) {
    let app = spawn_custom("", |_| {}, |config| format!("{config}{}", pdfa_service()));
    let base = app.base.replace(BASE_PATH, PDFA_PATH);
    (app, base)
}

/// The demo database, read directly.
fn query(sql: &str, binds: Vec<Value>) -> Vec<Vec<Value>> {
    let source = SqliteSource::open(&demo_db().path, SourceLimits::default()).expect("open the demo database");
    source.query(&Statement { sql: sql.into(), binds }).expect("query").rows
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn pat_id(bsn: &str) -> i64 {
    int(&query("SELECT pat_id FROM patient WHERE bsn = ? AND verwijderd = 'N'", vec![bsn.into()])[0][0])
}

/// The patient's documents that a PGO may see with status `current` (HIS status A).
fn current_documents(pat_id: i64, extra: &str, binds: Vec<Value>) -> i64 {
    let mut all = vec![Value::Int(pat_id)];
    all.extend(binds);
    int(&query(
        &format!("SELECT COUNT(*) FROM document WHERE pat_id = ? AND verwijderd = 'N' AND status = 'A' {extra}"),
        all,
    )[0][0])
}

fn outcome(reply: &crate::harness::Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["resourceType"], "OperationOutcome", "{}", reply.text);
    assert_eq!(reply.body["issue"][0]["code"], code, "{}", reply.text);
    assert_eq!(reply.body["issue"][0]["severity"], "error", "{}", reply.text);
}

/// GET returning status, Content-Type and the body as bytes.
fn get_bytes(url: &str, token: Option<&str>, accept: Option<&str>, request_id: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut request = ureq::get(url);
    if let Some(t) = token {
        request = request.set("Authorization", &format!("Bearer {t}"));
    }
    if let Some(a) = accept {
        request = request.set("Accept", a);
    }
    if let Some(id) = request_id {
        request = request.set("MedMij-Request-ID", id);
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let (status, content_type) = (response.status(), response.header("Content-Type").unwrap_or_default().to_owned());
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).expect("body");
    (status, content_type, body)
}

#[test]
fn current_documents_are_counted_as_the_database_has_them() {
    let (_app, base) = spawn_pdfa();
    let db = demo_db();
    let all = query("SELECT COUNT(*), SUM(verwijderd = 'J'), SUM(status <> 'A') FROM document", vec![]);
    assert!(int(&all[0][1]) > 0 && int(&all[0][2]) > 0, "the demo has deleted and non-current documents");
    let mut served = 0;
    for token in &db.tokens {
        let expected = current_documents(pat_id(&token.bsn), "", vec![]);
        for accept in ["application/fhir+json", "application/fhir+xml"] {
            let reply = get_url(&format!("{base}/DocumentReference?status=current"), Some(&token.token), Some(accept));
            assert_eq!(reply.status, 200, "{}", reply.text);
            if accept.ends_with("xml") {
                assert!(reply.text.starts_with("<?xml"), "{}", reply.text);
                assert_eq!(reply.text.matches("<DocumentReference").count() as i64, expected);
                continue;
            }
            let documents = resources(&reply.body);
            assert_eq!(documents.len() as i64, expected, "{}", reply.text);
            for d in &documents {
                assert_eq!(d["status"], "current");
                assert_eq!(
                    d["meta"]["profile"][0],
                    "http://nictiz.nl/fhir/StructureDefinition/IHE.MHD.Minimal.DocumentReference"
                );
                assert!(d["masterIdentifier"]["value"].as_str().is_some_and(|v| v.starts_with("urn:oid:")));
                let system = d["type"]["coding"][0]["system"].as_str().unwrap_or_default();
                assert!(["http://loinc.org", "http://snomed.info/sct"].contains(&system), "{d}");
                assert!(d["indexed"].as_str().is_some_and(|t| t.len() == 25), "an instant with offset: {d}");
                for reference in [&d["subject"], &d["author"][0]] {
                    assert!(reference["display"].is_string(), "every reference has a display: {d}");
                }
                let attachment = &d["content"][0]["attachment"];
                assert_eq!(attachment["contentType"], "application/pdf");
                assert_eq!(attachment["url"], format!("Binary/{}", d["id"].as_str().expect("id")));
                assert!(attachment["size"].as_i64().is_some_and(|s| s > 0));
                assert!(attachment.get("creation").is_none() && d.get("created").is_none(), "the profile forbids them");
            }
            served += documents.len();
        }
    }
    assert!(served > 0, "some patient has current documents");
}

/// The generic MedMij rules on every search of the set, and every reference of a document
/// readable in the same service (Patient and Practitioner).
#[test]
fn responses_keep_the_medmij_rules_and_references_resolve() {
    let (_app, base) = spawn_pdfa();
    for token in demo_db().tokens.iter().take(6) {
        for path in
            ["DocumentReference", "Patient?_include=Patient:general-practitioner", "Practitioner", "Organization"]
        {
            let reply = get_url(&format!("{base}/{path}"), Some(&token.token), None);
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            let violations = crate::validation::medmij_violations(&reply.body, &token.bsn);
            assert!(violations.is_empty(), "{path}: {violations:#?}");
            if path != "DocumentReference" {
                continue;
            }
            let mut refs = Vec::new();
            crate::harness::references(&reply.body, &mut refs);
            for reference in refs.iter().filter(|r| !r.starts_with("Binary/")) {
                let read = get_url(&format!("{base}/{reference}"), Some(&token.token), None);
                assert_eq!(read.status, 200, "{reference} is readable: {}", read.text);
            }
        }
    }
}

/// Scenario 1.2's shape (`indexed=ge..&indexed=le..&status=current`), for windows with and
/// without documents; the days are local days.
#[test]
fn indexed_ranges_find_what_the_database_has_in_them() {
    let (_app, base) = spawn_pdfa();
    let db = demo_db();
    let anchor = demo_options().anchor;
    let (mut empty, mut found) = (0, 0);
    for token in db.tokens.iter().take(6) {
        let pat = pat_id(&token.bsn);
        let days: Vec<NaiveDate> = query(
            "SELECT aangemaakt_op FROM document WHERE pat_id = ? AND verwijderd = 'N' AND status = 'A'",
            vec![Value::Int(pat)],
        )
        .iter()
        .map(|r| match &r[0] {
            Value::Timestamp(t) => t.date(),
            Value::Text(t) => NaiveDate::parse_from_str(&t[..10], "%Y-%m-%d").expect("date"),
            other => panic!("not a timestamp: {other:?}"),
        })
        .collect();
        let mut windows = vec![
            (anchor - Duration::days(730), anchor - Duration::days(365)),
            (anchor - Duration::days(365), anchor),
            (NaiveDate::from_ymd_opt(1990, 1, 1).expect("date"), NaiveDate::from_ymd_opt(1999, 12, 31).expect("date")),
        ];
        windows.extend(days.iter().map(|d| (*d, *d)));
        for (from, to) in windows {
            let expected = current_documents(
                pat,
                "AND aangemaakt_op >= ? AND aangemaakt_op < ?",
                vec![format!("{from} 00:00:00").into(), format!("{} 00:00:00", to + Duration::days(1)).into()],
            );
            let url = format!("{base}/DocumentReference?indexed=ge{from}&indexed=le{to}&status=current");
            let reply = get_url(&url, Some(&token.token), None);
            assert_eq!(reply.status, 200, "{}", reply.text);
            assert_eq!(resources(&reply.body).len() as i64, expected, "{from}..{to}");
            assert_eq!(self_link(&reply.body), url, "the self link echoes the range");
            if expected == 0 {
                empty += 1;
            } else {
                found += 1;
            }
        }
    }
    assert!(empty > 0 && found > 0, "windows with ({found}) and without ({empty}) documents");
}

/// The first of a patient's current documents: (token index, its DocumentReference, the
/// search's self link).
fn a_document(base: &str) -> (usize, Json, String) {
    for (i, token) in demo_db().tokens.iter().enumerate() {
        let reply = get_url(&format!("{base}/DocumentReference?status=current"), Some(&token.token), None);
        if let Some(first) = resources(&reply.body).into_iter().next() {
            return (i, first, self_link(&reply.body));
        }
    }
    panic!("no patient has a current document");
}

#[test]
fn the_binary_is_the_pdf_in_the_database_as_resource_and_as_itself() {
    let (app, base) = spawn_pdfa();
    let (i, document, self_url) = a_document(&base);
    let token = app.token(i);
    // As the Nictiz scripts resolve a relative attachment url: against the self link's base.
    let relative = document["content"][0]["attachment"]["url"].as_str().expect("url");
    let url = format!("{}{relative}", self_url.split("DocumentReference").next().expect("base"));
    let doc_id: i64 = relative.trim_start_matches("Binary/").parse().expect("a numeric id");
    let stored = match &query("SELECT inhoud FROM document WHERE doc_id = ?", vec![Value::Int(doc_id)])[0][0] {
        Value::Bytes(b) => b.clone(),
        other => panic!("not binary: {other:?}"),
    };
    assert!(stored.starts_with(b"%PDF-"));
    assert_eq!(document["content"][0]["attachment"]["size"], stored.len());

    let json = get_url(&url, Some(token), Some("application/fhir+json"));
    assert_eq!(json.status, 200, "{}", json.text);
    assert_eq!(json.content_type, "application/fhir+json");
    assert_eq!(json.body["resourceType"], "Binary");
    assert_eq!(json.body["contentType"], "application/pdf");
    let content = json.body["content"].as_str().expect("content");
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(content).expect("base64"), stored);

    for xml in [
        get_url(&url, Some(token), Some("application/fhir+xml")),
        get_url(&format!("{url}?_format=xml"), Some(token), None),
    ] {
        assert_eq!(xml.status, 200, "{}", xml.text);
        assert_eq!(xml.content_type, "application/fhir+xml");
        assert!(xml.text.contains("<Binary xmlns=\"http://hl7.org/fhir\">"), "{}", xml.text);
        assert!(xml.text.contains("<contentType value=\"application/pdf\"/>"));
        let value = xml.text.split("<content value=\"").nth(1).and_then(|t| t.split('"').next()).expect("content");
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(value).expect("base64"), stored);
    }

    // A PGO asking for the PDF, a plain GET without Accept (scenario 2.5) and a browser.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for accept in [Some("application/pdf"), None, Some(browser), Some("*/*")] {
        let (status, content_type, body) = get_bytes(&url, Some(token), accept, None);
        assert_eq!(status, 200, "{accept:?}");
        assert_eq!(content_type, "application/pdf", "{accept:?}");
        assert!(body == stored, "{accept:?}: the exact bytes of the database");
    }
    // A type the document is not: 406, never the PDF.
    let (status, content_type, body) = get_bytes(&url, Some(token), Some("image/png"), None);
    assert_eq!((status, content_type.as_str()), (406, "application/fhir+json"));
    assert!(!body.starts_with(b"%PDF"));
}

#[test]
fn only_the_documents_own_patient_reads_it() {
    let (app, base) = spawn_pdfa();
    let (i, document, _) = a_document(&base);
    let id = document["id"].as_str().expect("id");
    let url = format!("{base}/Binary/{id}");

    let (status, content_type, body) = get_bytes(&url, None, Some("application/pdf"), Some(&request_id(1)));
    assert_eq!(status, 401);
    assert_eq!(content_type, "application/fhir+json");
    assert!(!body.windows(5).any(|w| w == b"%PDF-"), "no PDF without a token");
    let (status, _, body) = get_bytes(&url, Some("not-a-token"), None, None);
    assert_eq!(status, 401);
    assert!(!body.windows(5).any(|w| w == b"%PDF-"));

    let other = app.token((i + 1) % app.tokens.len());
    for accept in [None, Some("application/fhir+json")] {
        let (status, _, body) = get_bytes(&url, Some(other), accept, None);
        assert_eq!(status, 404, "another patient's document is unknown to this patient");
        assert!(!body.windows(5).any(|w| w == b"%PDF-"));
    }
    outcome(&get_url(&format!("{base}/DocumentReference/{id}"), Some(other), None), 404, "not-found");

    // The owner's raw read is audited like every read.
    let (status, _, _) = get_bytes(&url, Some(app.token(i)), Some("application/pdf"), Some(&request_id(2)));
    assert_eq!(status, 200);
    let audit = SqliteSource::open(&app.dir.path().join("audit.sqlite"), SourceLimits::default()).expect("audit store");
    let record = |n: u64| {
        audit
            .query(&Statement {
                sql: "SELECT outcome, status, resources, interaction FROM audit_event WHERE request_id = ?".into(),
                binds: vec![request_id(n).into()],
            })
            .expect("audit")
            .rows
            .into_iter()
            .next()
            .map(|r| r.iter().map(|v| v.to_text().unwrap_or_default()).collect::<Vec<_>>())
            .expect("a record")
    };
    assert_eq!(record(1)[..2], ["denied".to_owned(), "401".to_owned()]);
    assert_eq!(record(2), ["granted", "200", &format!("Binary/{id}"), "read Binary"]);

    // Deleted documents are not there for their own patient either.
    let deleted = query(
        "SELECT d.doc_id, p.bsn FROM document d JOIN patient p ON p.pat_id = d.pat_id AND p.verwijderd = 'N' WHERE d.verwijderd = 'J'",
        vec![],
    );
    let owner = |bsn: &str| app.tokens.iter().find(|t| t.bsn == bsn.trim()).map(|t| t.token.clone());
    let (doc, token) = deleted
        .iter()
        .find_map(|r| Some((int(&r[0]), owner(&r[1].to_text()?)?)))
        .expect("a deleted document of a served patient");
    outcome(&get_url(&format!("{base}/Binary/{doc}"), Some(&token), Some("application/fhir+json")), 404, "not-found");
    outcome(&get_url(&format!("{base}/DocumentReference/{doc}"), Some(&token), None), 404, "not-found");
}

fn request_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// The error answers of the PDF/A scripts 1.3, 1.5, 2.2 and 2.3 (NoManifest target).
#[test]
fn errors_the_pdfa_scripts_expect() {
    let (app, base) = spawn_pdfa();
    let token = app.token(0);
    for accept in ["application/fhir+json", "application/fhir+xml"] {
        let bad = get_url(&format!("{base}/DocumentReference/$"), Some(token), Some(accept));
        assert_eq!(bad.status, 400, "{}", bad.text);
        assert!(bad.text.contains("OperationOutcome"), "{}", bad.text);
    }
    outcome(&get_url(&format!("{base}/DocumentReference/$"), Some(token), None), 400, "invalid");
    for accept in [None, Some("application/fhir+json"), Some("application/pdf")] {
        let reply = get_url(&format!("{base}/Binary/example-pdfa-binary3"), Some(token), accept);
        outcome(&reply, 404, "not-found");
    }
    let from = demo_options().anchor - Duration::days(30);
    for query in
        ["status=current".to_owned(), format!("status=current&created=ge{from}&created=le{}", demo_options().anchor)]
    {
        outcome(&get_url(&format!("{base}/DocumentManifest?{query}"), Some(token), None), 404, "not-supported");
    }
    // Other types keep refusing formats this server cannot write.
    outcome(&get_url(&format!("{base}/DocumentReference"), Some(token), Some("application/pdf")), 406, "not-supported");
}

/// The documents and their PDFs are the same on every database: the binary column is BLOB
/// in SQLite, BYTEA in PostgreSQL and LONGBLOB in MariaDB, read through diesel and ODBC.
#[test]
fn every_backend_serves_the_same_documents_and_bytes() {
    let mut first: Option<(String, Vec<String>, Vec<Vec<u8>>)> = None;
    for (backend, source) in crate::backends::backends() {
        let dir = tempfile::tempdir().expect("temp dir");
        crate::harness::write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
        let config = write_config_with(dir.path(), &source, &repo_mappings(), "public_url = \"https://dva.test\"");
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(&config, format!("{text}{}", pdfa_service())).expect("config");
        let app = serve_config(dir, &config, repo_mappings(), false);
        let base = app.base.replace(BASE_PATH, PDFA_PATH);
        let (mut bundles, mut files) = (Vec::new(), Vec::new());
        for token in app.tokens.iter().take(6) {
            let reply = get_url(&format!("{base}/DocumentReference"), Some(&token.token), None);
            assert_eq!(reply.status, 200, "{backend}: {}", reply.text);
            for d in resources(&reply.body) {
                let url = format!("{base}/Binary/{}", d["id"].as_str().expect("id"));
                let (status, content_type, body) = get_bytes(&url, Some(&token.token), None, None);
                assert_eq!((status, content_type.as_str()), (200, "application/pdf"), "{backend}");
                files.push(body);
                bundles.push(get_url(&url, Some(&token.token), Some("application/fhir+xml")).text);
            }
            bundles.push(reply.text);
        }
        assert!(!files.is_empty(), "{backend}: documents served");
        match &first {
            None => first = Some((backend.to_owned(), bundles, files)),
            Some((name, b, f)) => {
                if let Some((x, y)) = b.iter().zip(&bundles).find(|(x, y)| x != y) {
                    panic!("{backend} serves other documents than {name}:\n{y}\n{name}:\n{x}");
                }
                assert_eq!(b.len(), bundles.len(), "{backend}");
                assert!(f == &files, "{backend} serves other PDF bytes than {name}");
            }
        }
    }
}
