//! Output checked by an independent FHIR implementation (Python `fhir.resources`, STU3) and
//! against the MedMij response rules.

use crate::api::MAPPED_TYPES;
use crate::harness::{resources, spawn_app};
use serde_json::Value as Json;
use std::process::Command;

/// The Python with `fhir.resources` installed: `DVA_TEST_PYTHON`, else the project's .venv.
pub fn python() -> String {
    std::env::var("DVA_TEST_PYTHON").unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn responses_are_valid_stu3_and_keep_the_medmij_rules() {
    let app = spawn_app();
    let mut collected: Vec<Json> = Vec::new();
    for i in 0..4 {
        let token = app.token(i);
        for resource_type in MAPPED_TYPES {
            let bundle = app.get(resource_type, Some(token)).body;
            check_medmij_rules(&bundle, &app.tokens[i].bsn);
            collected.push(bundle);
        }
        collected.push(app.get("Patient?_include=Patient:general-practitioner", Some(token)).body);
    }
    collected.push(app.get("metadata", None).body);
    collected.push(app.get("Patient?bad=1", Some(app.token(0))).body);
    let file = app.dir.path().join("responses.json");
    std::fs::write(&file, serde_json::to_string(&collected).expect("json")).expect("write");
    let python = python();
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/validate_fhir.py"))
        .arg("stu3")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}); run scripts/test, which installs fhir.resources"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fhir.resources rejected our output:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(&format!("{} valid", collected.len())), "{report}");
}

/// shared/medmij.md §4.4, checked on every resource of a searchset.
pub fn check_medmij_rules(bundle: &Json, bsn: &str) {
    let violations = medmij_violations(bundle, bsn);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The generic MedMij response rules (shared/medmij.md §4.4) a searchset breaks, one line each.
pub fn medmij_violations(bundle: &Json, bsn: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            out.push(what);
        }
    };
    check(bundle["type"] == "searchset", format!("Bundle.type {}", bundle["type"]));
    check(bundle["link"].as_array().is_some_and(|l| l.iter().any(|l| l["relation"] == "self")), "no self link".into());
    check(!bundle.to_string().contains(bsn), "a BSN value in a response".into());
    let matches = bundle["entry"].as_array().into_iter().flatten().filter(|e| e["search"]["mode"] == "match").count();
    if let Some(total) = bundle["total"].as_u64() {
        check(total as usize <= matches, format!("total {total} > {matches} matches"));
    }
    for entry in bundle["entry"].as_array().into_iter().flatten() {
        let full_url = entry["fullUrl"].as_str().unwrap_or_default();
        let id = entry["resource"]["id"].as_str().unwrap_or("<no id>");
        check(full_url.starts_with("http") && full_url.ends_with(&format!("/{id}")), format!("fullUrl {full_url}"));
    }
    for resource in resources(bundle) {
        let name = format!("{}/{}", resource["resourceType"].as_str().unwrap_or("?"), resource["id"]);
        let kind = resource["resourceType"].as_str().unwrap_or_default();
        if kind != "Binary" && kind != "OperationOutcome" {
            check(resource["meta"]["profile"][0].is_string(), format!("{name}: no meta.profile"));
        }
        walk(&resource, &mut |key, node| {
            if key == "coding" {
                for c in node.as_array().into_iter().flatten() {
                    check(
                        c["system"].is_string() && c["code"].is_string(),
                        format!("{name}: Coding without system and code: {c}"),
                    );
                    let system = c["system"].as_str().unwrap_or_default();
                    check(
                        !system.starts_with("urn:oid:2.16.840.1.113883.2.4.3.11.60.40.2"),
                        format!("{name}: value-set OID {system} as a system"),
                    );
                }
            }
            if key == "identifier" {
                let list =
                    if node.is_array() { node.as_array().cloned().unwrap_or_default() } else { vec![node.clone()] };
                for i in &list {
                    if i["system"] == "http://fhir.nl/fhir/NamingSystem/bsn" {
                        check(i.get("value").is_none(), format!("{name}: an unmasked BSN identifier"));
                    } else {
                        check(
                            (i["system"].is_string() || i["type"].is_object()) && i["value"].is_string(),
                            format!("{name}: Identifier without system (or type) and value: {i}"),
                        );
                    }
                }
            }
            if let Some(o) = node.as_object() {
                if o.contains_key("reference") {
                    check(
                        o.get("display").and_then(Json::as_str).is_some_and(|d| !d.is_empty()),
                        format!("{name}: Reference without display: {node}"),
                    );
                }
                if o.contains_key("coding") && o["coding"].is_array() {
                    let displayed = o["coding"].as_array().into_iter().flatten().any(|c| c["display"].is_string());
                    check(
                        displayed || o.contains_key("text") || o.contains_key("extension"),
                        format!("{name}: CodeableConcept without display, text or extension: {node}"),
                    );
                }
            }
        });
    }
    out
}

fn walk(json: &Json, f: &mut impl FnMut(&str, &Json)) {
    match json {
        Json::Object(o) => {
            for (k, v) in o {
                f(k, v);
                walk(v, f);
            }
        }
        Json::Array(items) => items.iter().for_each(|i| walk(i, f)),
        _ => {}
    }
}

/// The same request in XML and JSON gives the same resources, as an independent parser reads
/// them (fhir.resources' XML reader against its JSON reader).
#[test]
fn xml_and_json_responses_are_the_same_resources() {
    let app = spawn_app();
    let mut pairs = Vec::new();
    let mut paths: Vec<String> = MAPPED_TYPES.iter().map(|t| t.to_string()).collect();
    paths.push("Patient?_include=Patient:general-practitioner".into());
    paths.push("metadata".into());
    for i in 0..3 {
        let token = app.token(i);
        for path in &paths {
            let url = format!("{}/{path}", app.base);
            let json = crate::harness::get_url(&url, Some(token), None).body;
            let xml = crate::harness::get_url(&url, Some(token), Some("application/fhir+xml"));
            assert_eq!(xml.status, 200, "{path}: {}", xml.body);
            pairs.push(serde_json::json!({"json": json, "xml": xml.body}));
        }
    }
    let error = crate::harness::get_url(&format!("{}/Patient?bad=1", app.base), Some(app.token(0)), None).body;
    let error_xml =
        crate::harness::get_url(&format!("{}/Patient?bad=1", app.base), Some(app.token(0)), Some("application/xml"))
            .body;
    pairs.push(serde_json::json!({"json": error, "xml": error_xml}));
    let file = app.dir.path().join("pairs.json");
    std::fs::write(&file, serde_json::to_string(&pairs).expect("json")).expect("write");
    let python = python();
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/compare_xml.py"))
        .arg("stu3")
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}); run scripts/test"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "XML and JSON differ:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains(&format!("{} same", pairs.len())), "{report}");
}
