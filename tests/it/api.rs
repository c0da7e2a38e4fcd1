//! The FHIR API over HTTP: reads, searches, paging, errors.

use crate::harness::{get_url, next_link, resources, self_link, spawn_app, LAB_SYSTEM};
use serde_json::Value as Json;
use std::collections::BTreeSet;

/// Every type the demo GP-data mapping set serves.
pub const MAPPED_TYPES: &[&str] = &[
    "AllergyIntolerance",
    "Composition",
    "Condition",
    "Encounter",
    "EpisodeOfCare",
    "Flag",
    "Medication",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Specimen",
];

fn outcome_code(body: &Json) -> &str {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"][0]["code"].as_str().unwrap_or_default()
}

#[test]
fn metadata_lists_exactly_what_is_mapped() {
    let app = spawn_app();
    let reply = app.get("metadata", None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/fhir+json");
    let cs = reply.body;
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "3.0.2");
    let types: BTreeSet<&str> =
        cs["rest"][0]["resource"].as_array().expect("resources").iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(types, MAPPED_TYPES.iter().copied().collect());
}

#[test]
fn patient_search_returns_the_token_holders_masked_record() {
    let app = spawn_app();
    let reply = app.get("Patient", Some(app.token(0)));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let bundle = &reply.body;
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(self_link(bundle), format!("{}/Patient", app.base));
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(bundle["total"], 1);
    let entry = &entries[0];
    let patient = &entry["resource"];
    assert_eq!(entry["search"]["mode"], "match");
    assert_eq!(entry["fullUrl"], format!("{}/Patient/{}", app.base, patient["id"].as_str().expect("id")));
    assert!(patient["meta"]["profile"][0].as_str().expect("profile").starts_with("http"));
    // The BSN is masked: the system is there, the value is not.
    let bsn = patient["identifier"]
        .as_array()
        .expect("identifiers")
        .iter()
        .find(|i| i["system"] == "http://fhir.nl/fhir/NamingSystem/bsn")
        .expect("bsn identifier");
    assert!(bsn.get("value").is_none(), "{bsn}");
    assert_eq!(bsn["_value"]["extension"][0]["valueCode"], "masked");
    assert!(!reply.body.to_string().contains(&app.tokens[0].bsn), "the BSN appears in the response");
}

#[test]
fn read_returns_the_resource_and_unknown_ids_are_404() {
    let app = spawn_app();
    let token = app.token(1);
    for resource_type in ["Patient", "Encounter", "Observation"] {
        let bundle = app.get(resource_type, Some(token)).body;
        let first = resources(&bundle).into_iter().next().unwrap_or_else(|| panic!("no {resource_type} for patient 1"));
        let id = first["id"].as_str().expect("id");
        let read = app.get(&format!("{resource_type}/{id}"), Some(token));
        assert_eq!(read.status, 200);
        assert_eq!(read.body, first, "a read returns what the search returned");
    }
    for unknown in ["Patient/99999999", "Observation/lab-99999999", "Observation/nonsense", "Encounter/-"] {
        let reply = app.get(unknown, Some(token));
        assert_eq!(reply.status, 404, "{unknown}");
        assert_eq!(outcome_code(&reply.body), "not-found");
    }
}

#[test]
fn errors_are_operation_outcomes_with_the_right_status() {
    let app = spawn_app();
    let token = app.token(0);
    let cases: &[(&str, Option<&str>, u16, &str)] = &[
        ("Patient", None, 401, "login"),
        ("Patient/1", None, 401, "login"),
        ("Observation?code=x", Some("not-a-token"), 401, "login"),
        ("Patient?foo=bar", Some(token), 400, "invalid"),
        ("Patient?patient=1", Some(token), 400, "invalid"),
        ("Observation?date=yesterday", Some(token), 400, "invalid"),
        ("Observation?code:text=bp", Some(token), 400, "invalid"),
        ("Observation?_count=many", Some(token), 400, "invalid"),
        ("Observation?_cursor=garbage", Some(token), 400, "invalid"),
        ("Patient?_include=Patient:link", Some(token), 400, "invalid"),
        ("Immunization", Some(token), 404, "not-supported"),
        ("DocumentManifest?status=current", Some(token), 404, "not-supported"),
        ("NoSuchType", Some(token), 404, "not-found"),
        ("Patient?_format=text/turtle", Some(token), 406, "not-supported"),
    ];
    for (path, token, status, code) in cases {
        let reply = app.get(path, *token);
        assert_eq!(reply.status, *status, "{path}: {}", reply.body);
        assert_eq!(reply.content_type, "application/fhir+json", "{path}");
        assert_eq!(outcome_code(&reply.body), *code, "{path}");
    }
    let unauthorized = ureq::get(&format!("{}/Patient", app.base)).call();
    match unauthorized {
        Err(ureq::Error::Status(401, r)) => {
            assert_eq!(r.header("WWW-Authenticate"), Some("Bearer realm=\"dva-connector\""))
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let html_only = get_url(&format!("{}/Patient", app.base), Some(token), Some("text/html"));
    assert_eq!(html_only.status, 406);
    let post =
        ureq::post(&format!("{}/Patient", app.base)).set("Authorization", &format!("Bearer {token}")).send_string("{}");
    assert!(matches!(post, Err(ureq::Error::Status(405, _))), "{post:?}");
}

#[test]
fn paging_follows_next_links_without_losing_or_repeating() {
    let app = spawn_app();
    let token = app.token(2);
    let all = app.get("Observation?_count=1000", Some(token)).body;
    let all_ids: Vec<String> = resources(&all).iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect();
    assert!(all_ids.len() >= 3, "the demo patient needs several observations");
    let paged: Vec<String> = app
        .search_all("Observation?_count=2", token)
        .iter()
        .map(|e| e["resource"]["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(paged, all_ids);
    let first = app.get("Observation?_count=2", Some(token)).body;
    let next = next_link(&first).expect("a next link");
    assert!(next.starts_with(&app.base) && next.contains("_count=2"), "{next}");
    assert!(first.get("total").is_none(), "total is only given when every match is on the page");
}

#[test]
fn token_and_date_searches_filter_in_sql() {
    let app = spawn_app();
    let token = app.token(0);
    let all: Vec<Json> = app.search_all("Observation", token);
    let lab = app.search_all(&format!("Observation?code={LAB_SYSTEM}|"), token);
    assert!(!lab.is_empty());
    for e in &lab {
        let codes = e["resource"]["code"]["coding"].as_array().expect("codings");
        assert!(codes.iter().any(|c| c["system"] == LAB_SYSTEM), "{e}");
    }
    // One specific code: every match carries it.
    let code = lab[0]["resource"]["code"]["coding"]
        .as_array()
        .expect("codings")
        .iter()
        .find(|c| c["system"] == LAB_SYSTEM)
        .expect("nhg")["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let one = app.search_all(&format!("Observation?code={LAB_SYSTEM}|{code}"), token);
    assert!(!one.is_empty() && one.len() <= lab.len());
    let other_system = app.search_all(&format!("Observation?code=http://example.org/other|{code}"), token);
    assert!(other_system.is_empty());
    // Dates: ge and lt split the results without overlap.
    let cut = "2025-06-15";
    let after = app.search_all(&format!("Observation?code={LAB_SYSTEM}|&date=ge{cut}"), token);
    let before = app.search_all(&format!("Observation?code={LAB_SYSTEM}|&date=lt{cut}"), token);
    assert_eq!(after.len() + before.len(), lab.len());
    for e in &after {
        let when = e["resource"]["effectiveDateTime"].as_str().expect("effectiveDateTime");
        assert!(when >= cut, "{when} is before {cut}");
    }
    assert!(all.len() >= lab.len());
    // The self link echoes the parameters.
    let reply = app.get(&format!("Observation?code={LAB_SYSTEM}|&date=ge{cut}"), Some(token));
    assert_eq!(self_link(&reply.body), format!("{}/Observation?code={LAB_SYSTEM}|&date=ge{cut}", app.base));
}

#[test]
fn include_adds_the_general_practitioner_once() {
    let app = spawn_app();
    let reply = app.get("Patient?_include=Patient:general-practitioner", Some(app.token(0)));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let entries = reply.body["entry"].as_array().expect("entries").clone();
    let modes: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["resource"]["resourceType"].as_str().unwrap_or(""), e["search"]["mode"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(modes, [("Patient", "match"), ("Practitioner", "include")]);
    assert_eq!(reply.body["total"], 1, "included resources are not counted");
    let gp = entries[0]["resource"]["generalPractitioner"][0]["reference"].as_str().expect("gp reference");
    assert_eq!(format!("Practitioner/{}", entries[1]["resource"]["id"].as_str().expect("id")), gp);
}

/// The GP lab request's includes: every specimen a result points to comes along once, as an
/// include; blood pressures (no material) point to none.
#[test]
fn lab_results_include_their_specimens() {
    let app = spawn_app();
    let mut seen_specimen = false;
    for i in 0..app.tokens.len() {
        let path = format!(
            "Observation?code={LAB_SYSTEM}|&_include=Observation:related-target&_include=Observation:specimen&_count=1000"
        );
        let reply = app.get(&path, Some(app.token(i)));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let entries = reply.body["entry"].as_array().cloned().unwrap_or_default();
        let mut wanted: Vec<String> = entries
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .filter_map(|e| e["resource"]["specimen"]["reference"].as_str().map(str::to_owned))
            .collect();
        wanted.sort();
        wanted.dedup();
        let mut included: Vec<String> = entries
            .iter()
            .filter(|e| e["search"]["mode"] == "include")
            .map(|e| format!("Specimen/{}", e["resource"]["id"].as_str().unwrap_or_default()))
            .collect();
        included.sort();
        assert_eq!(included, wanted, "each referenced specimen once");
        for e in entries.iter().filter(|e| e["search"]["mode"] == "match") {
            let blood_pressure = e["resource"]["code"]["coding"][0]["code"] == "1744";
            assert!(!blood_pressure || e["resource"]["specimen"].is_null(), "a blood pressure has no specimen");
        }
        seen_specimen |= !included.is_empty();
    }
    assert!(seen_specimen, "the demo patients have lab results with specimens");
}

#[test]
fn medmij_request_ids_are_checked_and_echoed() {
    let app = spawn_app();
    let token = app.token(0);
    let (request_id, correlation_id) = ("57510be1-73e6-4a75-9db8-ee005cced48f", "c0e7b545-9606-4eef-bea7-75d8addaa54b");
    let ok = ureq::get(&format!("{}/Patient", app.base))
        .set("Authorization", &format!("Bearer {token}"))
        .set("MedMij-Request-ID", request_id)
        .set("X-Correlation-ID", correlation_id)
        .call()
        .expect("200");
    assert_eq!(ok.header("MedMij-Request-ID"), Some(request_id));
    assert_eq!(ok.header("X-Correlation-ID"), Some(correlation_id));
    for (name, bad) in [("MedMij-Request-ID", "not-a-uuid"), ("X-Correlation-ID", "57510be1-73e6-4a75-9db8")] {
        match ureq::get(&format!("{}/Patient", app.base))
            .set("Authorization", &format!("Bearer {token}"))
            .set(name, bad)
            .call()
        {
            Err(ureq::Error::Status(400, r)) => {
                let body: Json = serde_json::from_str(&r.into_string().expect("body")).expect("json");
                assert_eq!(outcome_code(&body), "invalid");
            }
            other => panic!("{name}: {bad}: expected 400, got {other:?}"),
        }
    }
}

#[test]
fn xml_by_accept_and_format_with_errors_in_xml_too() {
    let app = spawn_app();
    let token = app.token(0);
    for (path, accept) in [
        ("Patient", Some("application/fhir+xml")),
        ("Patient?_format=xml", None),
        ("Patient", Some("application/json;q=0.5, application/xml")),
    ] {
        let reply = get_url(&format!("{}/{path}", app.base), Some(token), accept);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.content_type, "application/fhir+xml", "{path}");
        let xml = reply.body.as_str().expect("text");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Bundle xmlns=\"http://hl7.org/fhir\"><type value=\"searchset\"/>"), "{xml}");
        assert!(xml.contains("<resource><Patient><id value="), "{xml}");
    }
    let error = get_url(&format!("{}/Patient?foo=1", app.base), Some(token), Some("application/fhir+xml"));
    assert_eq!(error.status, 400);
    assert_eq!(error.content_type, "application/fhir+xml");
    assert!(error.body.as_str().expect("text").contains(
        "<OperationOutcome xmlns=\"http://hl7.org/fhir\"><issue><severity value=\"error\"/><code value=\"invalid\"/>"
    ));
    let unauthorized = get_url(&format!("{}/Patient", app.base), None, Some("application/fhir+xml"));
    assert_eq!((unauthorized.status, unauthorized.content_type.as_str()), (401, "application/fhir+xml"));
}

/// The Nictiz `periodofuse` search (a date search against a period with an open end), as the
/// GP-data qualification sends it for current medication.
#[test]
fn periodofuse_finds_medication_in_use_on_a_day() {
    let app = spawn_app();
    let day = "2026-06-15"; // the demo database's "today"
    let mut seen_current = 0;
    let mut seen_all = 0;
    for i in 0..app.tokens.len() {
        let token = app.token(i);
        let all = app.search_all("MedicationRequest", token);
        let current = app.search_all(
            &format!("MedicationRequest?periodofuse=ge{day}&category=http://snomed.info/sct|16076005"),
            token,
        );
        let ended = app.search_all(&format!("MedicationRequest?periodofuse=eb{day}"), token);
        assert_eq!(
            current.len() + ended.len(),
            all.len(),
            "patient {i}: every prescription is either still in use or ended"
        );
        for e in &current {
            let period = e["resource"]["extension"]
                .as_array()
                .and_then(|x| {
                    x.iter()
                        .find(|x| x["url"] == "http://nictiz.nl/fhir/StructureDefinition/zib-Medication-PeriodOfUse")
                })
                .map(|x| x["valuePeriod"].clone())
                .expect("period of use");
            if let Some(end) = period["end"].as_str() {
                assert!(end >= day, "ended {end}, before {day}");
            }
        }
        seen_current += current.len();
        seen_all += all.len();
    }
    assert!(seen_current > 0 && seen_current < seen_all, "the demo data should have both current and ended medication");
}

/// `Observation/$lastn`: per code only the most recent, as the BgZ qualification asks it.
#[test]
fn lastn_keeps_the_latest_per_code() {
    let app = spawn_app();
    let token = app.token(0);
    let lab = app.search_all(&format!("Observation?code={LAB_SYSTEM}|"), token);
    let mut latest: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for e in &lab {
        let r = &e["resource"];
        let code = r["code"]["coding"][0]["code"].as_str().expect("code").to_owned();
        let when = r["effectiveDateTime"].as_str().expect("effective").to_owned();
        let entry = latest.entry(code).or_default();
        if when > *entry {
            *entry = when;
        }
    }
    let reply = app.get(&format!("Observation/$lastn?code={LAB_SYSTEM}|"), Some(token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(self_link(&reply.body), format!("{}/Observation/$lastn?code={LAB_SYSTEM}|", app.base));
    let got: std::collections::BTreeMap<String, String> = resources(&reply.body)
        .iter()
        .map(|r| {
            (
                r["code"]["coding"][0]["code"].as_str().expect("code").to_owned(),
                r["effectiveDateTime"].as_str().expect("when").to_owned(),
            )
        })
        .collect();
    assert_eq!(got, latest);
    assert_eq!(reply.body["total"], latest.len());
    let two = app.get(&format!("Observation/$lastn?code={LAB_SYSTEM}|&max=2"), Some(token));
    assert!(resources(&two.body).len() >= latest.len());
    assert!(self_link(&two.body).ends_with("&max=2"));
    assert_eq!(app.get("Observation/$lastn?max=0", Some(token)).status, 400);
    assert_eq!(app.get("Encounter/$lastn", Some(token)).status, 404);
}

/// Patient data is not for caches: every response of a data service says `no-store`.
#[test]
fn data_responses_are_not_for_caches() {
    let app = spawn_app();
    for (path, token) in [("Patient", Some(app.token(0))), ("Patient/999999", Some(app.token(0))), ("Patient", None)] {
        let response = match ureq::get(&format!("{}/{path}", app.base))
            .set("Authorization", &format!("Bearer {}", token.unwrap_or("none")))
            .call()
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{path}: {e}"),
        };
        assert_eq!(response.header("Cache-Control"), Some("no-store"), "{path}");
    }
}

/// Every name part as the EHR keeps it reaches the PGO: the family name the patient goes by
/// (own, partner's, or both in the chosen order), its parts, and each given name part with its
/// own qualifier. Compared for every demo patient with the row in the database.
#[test]
fn patient_names_are_served_as_the_ehr_keeps_them() {
    use dva_source_api::{RowSource, Statement, Value};
    let app = spawn_app();
    let db = crate::harness::demo_db();
    let source =
        dva_source_diesel::SqliteSource::open(&db.path, dva_source_diesel::SourceLimits::default()).expect("open");
    let text = |v: &Value| v.to_text().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let mut usages = BTreeSet::new();
    for token in &db.tokens {
        let sql = "SELECT voorvoegsels, achternaam, partner_voorvoegsels, partner_achternaam, naamgebruik, voornamen, \
                   roepnaam, voorletters FROM patient WHERE bsn = ? AND verwijderd = 'N'";
        let rows = source
            .query(&Statement { sql: sql.into(), binds: vec![Value::from(token.bsn.as_str())] })
            .expect("patient row")
            .rows;
        let row: Vec<Option<String>> = rows[0].iter().map(text).collect();
        let joined = |prefix: &Option<String>, name: &Option<String>| {
            [prefix.clone(), name.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ")
        };
        let own = joined(&row[0], &row[1]);
        let partner = row[3].as_ref().map(|_| joined(&row[2], &row[3]));
        let usage = row[4].clone().unwrap_or_default();
        let family = match (usage.as_str(), &partner) {
            ("P", Some(p)) => p.clone(),
            ("V", Some(p)) => format!("{p}-{own}"),
            ("N", Some(p)) => format!("{own}-{p}"),
            _ => own.clone(),
        };
        usages.insert(usage.clone());
        let patient = &resources(&app.get("Patient", Some(&token.token)).body)[0];
        let name = &patient["name"][0];
        assert_eq!(name["family"], family.as_str(), "{}", token.bsn);
        let part = |url: &str| {
            name["_family"]["extension"]
                .as_array()
                .and_then(|e| e.iter().find(|x| x["url"] == url))
                .and_then(|x| x["valueString"].as_str())
                .map(str::to_owned)
        };
        assert_eq!(part("http://hl7.org/fhir/StructureDefinition/humanname-own-name"), row[1]);
        assert_eq!(part("http://hl7.org/fhir/StructureDefinition/humanname-own-prefix"), row[0]);
        assert_eq!(part("http://hl7.org/fhir/StructureDefinition/humanname-partner-name"), row[3]);
        let expected_given: Vec<(String, &str)> = [(&row[5], "BR"), (&row[6], "CL"), (&row[7], "IN")]
            .into_iter()
            .filter_map(|(v, q)| v.clone().map(|v| (v, q)))
            .collect();
        let served_given: Vec<(String, &str)> = name["given"]
            .as_array()
            .expect("given")
            .iter()
            .zip(name["_given"].as_array().expect("_given"))
            .map(|(g, e)| {
                (g.as_str().unwrap_or_default().to_owned(), e["extension"][0]["valueCode"].as_str().unwrap_or(""))
            })
            .collect();
        assert_eq!(served_given, expected_given, "{}", token.bsn);
        let call = row[6].clone().or(row[5].clone()).or(row[7].clone());
        assert_eq!(name["text"], format!("{} {family}", call.unwrap_or_default()).trim(), "{}", token.bsn);
    }
    assert!(usages.len() > 1, "the demo patients all go by their own name: {usages:?}");
}
