//! Invariant 1: a token only ever yields its own patient's data, for every mapped type.

use crate::api::MAPPED_TYPES;
use crate::harness::{references, resources, spawn_app, TestApp};
use serde_json::Value as Json;

/// The Patient id of the token's holder.
fn own_patient_id(app: &TestApp, token: &str) -> String {
    let bundle = app.get("Patient", Some(token)).body;
    let patients = resources(&bundle);
    assert_eq!(patients.len(), 1, "a token is for one patient");
    patients[0]["id"].as_str().expect("id").to_owned()
}

fn patient_refs(resource: &Json) -> Vec<String> {
    let mut refs = Vec::new();
    references(resource, &mut refs);
    refs.into_iter().filter(|r| r.starts_with("Patient/")).collect()
}

#[test]
fn a_token_never_returns_another_patients_resources() {
    let app = spawn_app();
    let patients: Vec<(String, String)> =
        (0..app.tokens.len()).map(|i| (app.token(i).to_owned(), own_patient_id(&app, app.token(i)))).collect();
    let mut owned_by: Vec<Vec<(String, String)>> = vec![Vec::new(); patients.len()];
    for (i, (token, own)) in patients.iter().enumerate() {
        for resource_type in MAPPED_TYPES {
            for entry in app.search_all(resource_type, token) {
                let r = &entry["resource"];
                if *resource_type == "Patient" {
                    assert_eq!(r["id"], own.as_str());
                }
                let refs = patient_refs(r);
                for reference in &refs {
                    assert_eq!(
                        reference,
                        &format!("Patient/{own}"),
                        "{resource_type} of patient {i} refers to another patient"
                    );
                }
                if !refs.is_empty() || *resource_type == "Patient" {
                    owned_by[i].push((resource_type.to_string(), r["id"].as_str().expect("id").to_owned()));
                }
            }
        }
        assert!(owned_by[i].len() > 3, "patient {i} has too little data to test isolation");
    }
    // Reading another patient's resource by id is indistinguishable from a missing one.
    for (i, (token, _)) in patients.iter().enumerate() {
        let other = (i + 1) % patients.len();
        for (resource_type, id) in &owned_by[other] {
            let reply = app.get(&format!("{resource_type}/{id}"), Some(token));
            assert_eq!(reply.status, 404, "patient {i} read {resource_type}/{id} of patient {other}");
        }
    }
}

/// A randomized walk (seeded, the seed in the failure message): many patients in random order,
/// every mapped request type with and without search parameters, reads of what came back and
/// of what another patient got. No response ever holds another patient's resource.
#[test]
fn randomized_requests_never_cross_patients() {
    let app = spawn_app();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64);
    let mut state = seed | 1;
    let mut next = move |n: usize| {
        // xorshift64*: enough spread for picking requests.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    };
    let patients: Vec<(String, String)> =
        (0..app.tokens.len()).map(|i| (app.token(i).to_owned(), own_patient_id(&app, app.token(i)))).collect();
    let lab = crate::harness::LAB_SYSTEM;
    let requests: Vec<String> = MAPPED_TYPES
        .iter()
        .map(|t| format!("{t}?_count=3"))
        .chain([
            "Patient?_include=Patient:general-practitioner".to_owned(),
            format!("Observation?code={lab}|&_count=5"),
            format!("Observation/$lastn?code={lab}|"),
            "Observation?date=ge2024-01-01".to_owned(),
            "MedicationRequest?periodofuse=ge2025-01-01&_include=MedicationRequest:medication".to_owned(),
            "AllergyIntolerance?_count=2".to_owned(),
        ])
        .collect();
    let mut seen: Vec<Vec<String>> = vec![Vec::new(); patients.len()];
    for step in 0..300 {
        let who = next(patients.len());
        let (token, own) = &patients[who];
        // Mostly searches; sometimes a read of what another patient was served.
        let other = next(patients.len());
        let path = if step % 4 == 3 && other != who && !seen[other].is_empty() {
            seen[other][next(seen[other].len())].clone()
        } else {
            requests[next(requests.len())].clone()
        };
        let reply = app.get(&path, Some(token));
        let found = match reply.body["resourceType"].as_str() {
            Some("Bundle") => resources(&reply.body),
            Some("OperationOutcome") | None => Vec::new(),
            Some(_) => vec![reply.body.clone()],
        };
        for r in &found {
            for reference in patient_refs(r) {
                assert_eq!(reference, format!("Patient/{own}"), "seed {seed}, step {step}: {path} for patient {who}");
            }
            if r["resourceType"] == "Patient" {
                assert_eq!(r["id"], own.as_str(), "seed {seed}, step {step}: {path}");
            }
            if !patient_refs(r).is_empty() && r["resourceType"] != "Patient" {
                let read = format!(
                    "{}/{}",
                    r["resourceType"].as_str().unwrap_or_default(),
                    r["id"].as_str().unwrap_or_default()
                );
                seen[who].push(read);
            }
        }
        if other != who
            && path.contains('/')
            && !path.contains('?')
            && seen[other].contains(&path)
            && !seen[who].contains(&path)
        {
            assert_eq!(reply.status, 404, "seed {seed}, step {step}: patient {who} read {path} of patient {other}");
        }
    }
}

/// Two records with one BSN: refuse (409) with no data, rather than guess.
#[test]
fn a_bsn_matching_two_patients_is_refused() {
    let app = crate::harness::spawn_own_db();
    let (bsn, other) = (app.tokens[0].bsn.clone(), app.tokens[1].bsn.clone());
    let mut w = dva_source_diesel::SqliteWriter::create(&app.dir.path().join("ehr.sqlite")).expect("open");
    w.execute_batch(&format!("UPDATE patient SET bsn = '{bsn}' WHERE bsn = '{other}'")).expect("duplicate the BSN");
    let reply = app.get("Patient", Some(app.token(0)));
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert_eq!(reply.body["resourceType"], "OperationOutcome");
    assert!(!reply.text.contains("\"Patient\""), "no patient data: {}", reply.text);
}
