//! searchset Bundles.

use super::Resource;
use serde_json::{json, Map, Value as Json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BundleEntry {
    pub resource: Resource,
    pub mode: SearchMode,
}

/// A searchset Bundle with absolute links and `fullUrl`s. `total` is given only when it is
/// known exactly (all matches on this page).
pub fn searchset(
    base_url: &str,
    self_link: &str,
    next_link: Option<&str>,
    total: Option<usize>,
    entries: Vec<BundleEntry>,
) -> Json {
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), "Bundle".into());
    bundle.insert("type".into(), "searchset".into());
    if let Some(total) = total {
        bundle.insert("total".into(), total.into());
    }
    let mut links = vec![json!({"relation": "self", "url": self_link})];
    if let Some(next) = next_link {
        links.push(json!({"relation": "next", "url": next}));
    }
    bundle.insert("link".into(), Json::Array(links));
    if !entries.is_empty() {
        let entries = entries
            .into_iter()
            .map(|e| {
                let full_url = format!("{base_url}/{}/{}", e.resource.resource_type, e.resource.id);
                let mode = match e.mode {
                    SearchMode::Match => "match",
                    SearchMode::Include => "include",
                };
                json!({"fullUrl": full_url, "resource": e.resource.json, "search": {"mode": mode}})
            })
            .collect();
        bundle.insert("entry".into(), Json::Array(entries));
    }
    Json::Object(bundle)
}
