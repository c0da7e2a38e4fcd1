//! The CapabilityStatement, generated from exactly what is mapped: never claim more.

use super::FhirVersion;
use serde_json::{json, Map, Value as Json};

/// What the connector serves for one resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedResource<'a> {
    pub resource_type: &'a str,
    pub profiles: Vec<&'a str>,
    /// (name, type) of each search parameter.
    pub search_params: Vec<(&'a str, &'a str)>,
    pub includes: Vec<&'a str>,
}

pub fn capability_statement(
    version: FhirVersion,
    base_url: &str,
    date: &str,
    resources: &[ServedResource<'_>],
) -> Json {
    let resources: Vec<Json> = resources.iter().map(|r| served_resource(version, r)).collect();
    let mut cs = Map::new();
    cs.insert("resourceType".into(), "CapabilityStatement".into());
    cs.insert("status".into(), "active".into());
    cs.insert("date".into(), date.into());
    cs.insert("kind".into(), "instance".into());
    cs.insert("software".into(), json!({"name": "dva-connector", "version": env!("CARGO_PKG_VERSION")}));
    cs.insert(
        "implementation".into(),
        json!({"description": "MedMij DVA resource server (dva-connector)", "url": base_url}),
    );
    cs.insert("fhirVersion".into(), version.release().into());
    if version == FhirVersion::Stu3 {
        cs.insert("acceptUnknown".into(), "no".into());
    }
    cs.insert("format".into(), json!(["json", "xml"]));
    cs.insert("rest".into(), json!([{ "mode": "server", "resource": resources }]));
    Json::Object(cs)
}

fn served_resource(version: FhirVersion, r: &ServedResource<'_>) -> Json {
    let mut out = Map::new();
    out.insert("type".into(), r.resource_type.into());
    match (version, r.profiles.as_slice()) {
        (FhirVersion::Stu3, [one]) => {
            out.insert("profile".into(), json!({"reference": one}));
        }
        (FhirVersion::R4, profiles) if !profiles.is_empty() => {
            out.insert("supportedProfile".into(), json!(profiles));
        }
        _ => {}
    }
    if version == FhirVersion::Stu3 && r.profiles.len() > 1 {
        out.insert("documentation".into(), format!("Profiles: {}", r.profiles.join(", ")).into());
    }
    out.insert("interaction".into(), json!([{"code": "read"}, {"code": "search-type"}]));
    if !r.includes.is_empty() {
        out.insert("searchInclude".into(), json!(r.includes));
    }
    if !r.search_params.is_empty() {
        let params: Vec<Json> = r.search_params.iter().map(|(name, ty)| json!({"name": name, "type": ty})).collect();
        out.insert("searchParam".into(), Json::Array(params));
    }
    Json::Object(out)
}
