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
