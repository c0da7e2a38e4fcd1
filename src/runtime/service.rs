//! One data service: a mapping set over a source. Runs the statements of a request (blocking;
//! callers use a blocking pool) and hands the rows to the engine.

use crate::config::{ServiceSettings, Settings};
use crate::engine::{self, EvalContext, Problem, ScopeRows};
use crate::fhir::{self, BundleEntry, FhirVersion, Resource, SearchMode, ServedResource};
use crate::mapping::{CompiledMapping, MappingSet, Scope, SearchParamDef};
use crate::search::{self, Cursor, SearchError, SearchRequest, SearchSpec};
use dva_source_api::{RowSet, RowSource, SourceError, Value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

/// What a type accepts in a search: the union of its mappings' parameters and includes.
pub struct TypeSearch {
    pub params: BTreeMap<String, SearchParamDef>,
    pub includes: BTreeSet<String>,
}

impl TypeSearch {
    /// What each mapped resource type can be searched by: the union over its mappings.
    pub fn per_type(mappings: &MappingSet) -> BTreeMap<String, TypeSearch> {
        let mut types: BTreeMap<String, TypeSearch> = BTreeMap::new();
        for m in &mappings.mappings {
            let t = types
                .entry(m.resource_type.clone())
                .or_insert_with(|| TypeSearch { params: BTreeMap::new(), includes: BTreeSet::new() });
            for (name, def) in &m.search {
                t.params.entry(name.clone()).or_insert_with(|| def.clone());
            }
            t.includes.extend(m.includes.keys().cloned());
        }
        types
    }
}

pub struct DataService {
    pub name: String,
    pub base_path: String,
    pub mappings: MappingSet,
    /// The `[sources.NAME]` this service reads.
    pub source_name: String,
    pub source: Arc<dyn RowSource>,
    pub time_zone: chrono_tz::Tz,
    pub default_count: usize,
    pub max_count: usize,
    types: BTreeMap<String, TypeSearch>,
}

/// Why a request could not be answered with data.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// More than one record for one BSN: refusing is the only safe answer.
    #[error("the patient lookup found more than one record for the authenticated patient")]
    AmbiguousPatient,
}

/// One page of a search: entries (matches, then includes) and where the next page starts.
pub struct SearchPage {
    pub entries: Vec<BundleEntry>,
    pub next: Option<Cursor>,
    /// Known when this page holds every match.
    pub total: Option<usize>,
    pub problems: Vec<Problem>,
}

impl DataService {
    pub fn new(
        settings: &ServiceSettings,
        mappings: MappingSet,
        source: Arc<dyn RowSource>,
        global: &Settings,
    ) -> Self {
        let types = TypeSearch::per_type(&mappings);
        Self {
            name: settings.name.clone(),
            base_path: settings.base_path.clone(),
            mappings,
            source_name: settings.source.clone(),
            source,
            time_zone: global.time_zone,
            default_count: global.default_count,
            max_count: global.max_count,
            types,
        }
    }

    pub fn fhir_version(&self) -> FhirVersion {
        self.mappings.fhir
    }

    pub fn type_search(&self, resource_type: &str) -> Option<&TypeSearch> {
        self.types.get(resource_type)
    }

    /// Runs one statement, timing it for the metrics.
    fn query(&self, statement: &dva_source_api::Statement) -> Result<RowSet, SourceError> {
        let started = std::time::Instant::now();
        let result = self.source.query(statement);
        crate::metrics::observe(
            "dva_db_statement_duration_seconds",
            vec![("service", self.name.clone())],
            started.elapsed(),
        );
        result
    }

    /// A search's query string, checked against what `resource_type`'s mappings declare.
    /// The caller has checked that the type is mapped; an unmapped one has no parameters.
    pub fn parse_search(&self, resource_type: &str, query: &str) -> Result<SearchRequest, SearchError> {
        let empty = TypeSearch { params: BTreeMap::new(), includes: BTreeSet::new() };
        let type_search = self.types.get(resource_type).unwrap_or(&empty);
        let spec = SearchSpec {
            params: &type_search.params,
            includes: &type_search.includes,
            time_zone: self.time_zone,
            default_count: self.default_count,
            max_count: self.max_count,
        };
        search::parse_search(query, &spec)
    }

    fn eval_context(&self) -> EvalContext<'_> {
        EvalContext { time_zone: self.time_zone, code_tables: &self.mappings.code_tables }
    }

    /// The patient's key in the legacy database, from the token's BSN. `None`: not known here.
    pub fn patient_key(&self, bsn: &str) -> Result<Option<Value>, ServiceError> {
        let statement = search::lookup_statement(&self.mappings.patient_lookup, self.source.sql_style(), bsn);
        let rows = self.query(&statement)?;
        match rows.rows.as_slice() {
            [] => Ok(None),
            [row] => Ok(row.first().filter(|v| !v.is_null()).cloned()),
            _ => Err(ServiceError::AmbiguousPatient),
        }
    }

    /// One page of matches for `resource_type`, with children and includes.
    pub fn search(
        &self,
        patient: &Value,
        resource_type: &str,
        request: &SearchRequest,
    ) -> Result<SearchPage, ServiceError> {
        if request.count == 0 {
            // `_count=0` asks for no entries; the total is not counted.
            return Ok(SearchPage { entries: Vec::new(), next: None, total: None, problems: Vec::new() });
        }
        let mappings: Vec<&CompiledMapping> = self.mappings.for_type(resource_type).collect();
        let style = self.source.sql_style();
        let tables = &self.mappings.code_tables;
        let mut pages: Vec<(&CompiledMapping, RowSet)> = Vec::new();
        let mut remaining = request.count as u64;
        let mut next = None;
        for (i, mapping) in mappings.iter().enumerate().skip(request.cursor.mapping) {
            let offset = if i == request.cursor.mapping { request.cursor.offset } else { 0 };
            if remaining == 0 {
                // The page is full: is there anything left in this mapping? One row tells.
                let probe = search::page_statement(mapping, style, patient, &request.criteria, tables, 1, offset);
                if let Some(probe) = probe {
                    if !self.query(&probe)?.rows.is_empty() {
                        next = Some(Cursor { mapping: i, offset });
                        break;
                    }
                }
                continue;
            }
            let Some(statement) =
                search::page_statement(mapping, style, patient, &request.criteria, tables, remaining + 1, offset)
            else {
                continue;
            };
            let mut rows = self.query(&statement)?;
            if rows.rows.len() as u64 > remaining {
                rows.rows.truncate(remaining as usize);
                next = Some(Cursor { mapping: i, offset: offset + remaining });
                pages.push((mapping, rows));
                break;
            }
            remaining -= rows.rows.len() as u64;
            pages.push((mapping, rows));
        }

        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (mapping, rows) in pages {
            let (resources, p) = self.build(mapping, patient, rows)?;
            problems.extend(p);
            entries.extend(resources.into_iter().map(|resource| BundleEntry { resource, mode: SearchMode::Match }));
        }
        let first_page = request.cursor == Cursor::default();
        let total = (first_page && next.is_none()).then_some(entries.len());
        if !request.includes.is_empty() {
            let included = self.includes(patient, &entries, &request.includes, &mut problems)?;
            entries.extend(included.into_iter().map(|resource| BundleEntry { resource, mode: SearchMode::Include }));
        }
        Ok(SearchPage { entries, next, total, problems })
    }

    /// `$lastn`: every match of the search, keeping per code (the set of `code.coding`) the
    /// `max` most recent by `effective[x]`. Reads every page, but holds only the kept ones and
    /// one page at a time: memory is bounded by codes x `max`, not by the patient's history.
    pub fn lastn(
        &self,
        patient: &Value,
        resource_type: &str,
        request: &SearchRequest,
        max: usize,
    ) -> Result<SearchPage, ServiceError> {
        let mut request = request.clone();
        request.count = self.max_count;
        // Includes follow the kept matches only, once, at the end.
        let includes = std::mem::take(&mut request.includes);
        let mut groups: Vec<(String, Vec<BundleEntry>)> = Vec::new();
        let mut problems = Vec::new();
        loop {
            let page = self.search(patient, resource_type, &request)?;
            problems.extend(page.problems);
            for entry in page.entries.into_iter().filter(|e| e.mode == SearchMode::Match) {
                let key = code_key(&entry.resource.json);
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, list)) => list.push(entry),
                    None => groups.push((key, vec![entry])),
                }
            }
            for (_, list) in &mut groups {
                // Newest first; a stable sort keeps the earlier of two at the same instant.
                list.sort_by_key(|e| std::cmp::Reverse(effective_instant(&e.resource.json)));
                list.truncate(max);
            }
            match page.next {
                Some(cursor) => request.cursor = cursor,
                None => break,
            }
        }
        let mut entries: Vec<BundleEntry> = groups.into_iter().flat_map(|(_, list)| list).collect();
        let total = Some(entries.len());
        if !includes.is_empty() {
            let included = self.includes(patient, &entries, &includes, &mut problems)?;
            entries.extend(included.into_iter().map(|resource| BundleEntry { resource, mode: SearchMode::Include }));
        }
        Ok(SearchPage { entries, next: None, total, problems })
    }

    /// A resource by id, if it is this patient's.
    pub fn read(
        &self,
        patient: &Value,
        resource_type: &str,
        id: &str,
    ) -> Result<(Option<Resource>, Vec<Problem>), ServiceError> {
        for mapping in self.mappings.for_type(resource_type) {
            let Some(column_value) = mapping.id.column_value(id) else { continue };
            let statement = search::read_statement(mapping, self.source.sql_style(), patient, column_value);
            let rows = self.query(&statement)?;
            let (resources, problems) = self.build(mapping, patient, rows)?;
            // Two rows with one id would be a mapping error; serve neither rather than guess.
            if resources.len() == 1 {
                return Ok((resources.into_iter().next(), problems));
            }
            return Ok((None, problems));
        }
        Ok((None, Vec::new()))
    }

    /// Rows of one mapping -> resources, fetching child rows (one statement per child query).
    fn build(
        &self,
        mapping: &CompiledMapping,
        patient: &Value,
        rows: RowSet,
    ) -> Result<(Vec<Resource>, Vec<Problem>), ServiceError> {
        let children = self.fetch_children(&mapping.scope, &rows, patient)?;
        let data = ScopeRows { rows, children };
        Ok(engine::build_resources(mapping, &data, &self.eval_context()))
    }

    fn fetch_children(&self, scope: &Scope, rows: &RowSet, patient: &Value) -> Result<Vec<ScopeRows>, ServiceError> {
        let mut out = Vec::with_capacity(scope.children.len());
        for child in &scope.children {
            let keys: Vec<Value> = match rows.column_index(&child.parent_key) {
                Some(k) => {
                    let mut seen = HashSet::new();
                    rows.rows
                        .iter()
                        .map(|r| &r[k])
                        .filter(|v| !v.is_null() && seen.insert(v.to_text()))
                        .cloned()
                        .collect()
                }
                None => Vec::new(),
            };
            let mut child_rows = RowSet::default();
            for statement in search::child_statements(
                &child.query,
                &child.key,
                &child.order_by,
                self.source.sql_style(),
                patient,
                &keys,
            ) {
                append(&mut child_rows, self.query(&statement)?);
            }
            let grandchildren = self.fetch_children(&child.scope, &child_rows, patient)?;
            out.push(ScopeRows { rows: child_rows, children: grandchildren });
        }
        Ok(out)
    }

    /// Resources referenced by the matches through the requested includes, each once.
    fn includes(
        &self,
        patient: &Value,
        matches: &[BundleEntry],
        includes: &[String],
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<Resource>, ServiceError> {
        let mut have: HashSet<(String, String)> =
            matches.iter().map(|e| (e.resource.resource_type.clone(), e.resource.id.clone())).collect();
        let mut targets: Vec<(String, String)> = Vec::new();
        for entry in matches {
            let Some(mapping) = self
                .mappings
                .for_type(&entry.resource.resource_type)
                .find(|m| m.id.column_value(&entry.resource.id).is_some())
            else {
                continue;
            };
            for include in includes {
                // `Type:param:Target` follows only references to Target.
                let target_type = include.splitn(3, ':').nth(2);
                for path in mapping.includes.get(include).into_iter().flatten() {
                    for reference in references_at(&entry.resource.json, path) {
                        if let Some((t, id)) = reference.split_once('/') {
                            if target_type.is_some_and(|target| target != t) {
                                continue;
                            }
                            if have.insert((t.to_owned(), id.to_owned())) {
                                targets.push((t.to_owned(), id.to_owned()));
                            }
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (t, id) in targets {
            let (resource, p) = self.read(patient, &t, &id)?;
            problems.extend(p);
            out.extend(resource);
        }
        Ok(out)
    }

    /// The CapabilityStatement of what this service maps.
    pub fn capability_statement(&self, base_url: &str, date: &str) -> Json {
        let served: Vec<ServedResource<'_>> = self
            .types
            .iter()
            .map(|(t, search)| ServedResource {
                resource_type: t,
                profiles: self
                    .mappings
                    .for_type(t)
                    .map(|m| m.profile.as_str())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                search_params: search.params.iter().map(|(n, d)| (n.as_str(), d.type_name())).collect(),
                includes: search.includes.iter().map(String::as_str).collect(),
            })
            .collect();
        fhir::capability_statement(self.fhir_version(), base_url, date, &served)
    }
}

/// The codes an Observation is about, as one comparable key.
fn code_key(resource: &Json) -> String {
    let mut codes: Vec<String> = resource["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}|{}", c["system"].as_str().unwrap_or_default(), c["code"].as_str().unwrap_or_default()))
        .collect();
    codes.sort();
    codes.join(" ")
}

/// When an observation was made, as an instant where the text allows (dates sort as their
/// first instant in UTC); undated ones sort last.
fn effective_instant(resource: &Json) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = resource["effectiveDateTime"].as_str().or_else(|| resource["effectivePeriod"]["start"].as_str())?;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let padded = match text.len() {
        4 => format!("{text}-01-01"),
        7 => format!("{text}-01"),
        _ => text.to_owned(),
    };
    chrono::NaiveDate::parse_from_str(&padded, "%Y-%m-%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn append(into: &mut RowSet, more: RowSet) {
    if into.rows.is_empty() {
        into.columns = more.columns;
    }
    into.rows.extend(more.rows);
}

/// Relative references (`Type/id`) found at an element path, through arrays.
fn references_at(json: &Json, path: &str) -> Vec<String> {
    let mut nodes = vec![json];
    for step in path.split('.') {
        nodes = nodes
            .into_iter()
            .filter_map(|n| n.get(step))
            .flat_map(|n| match n {
                Json::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
    }
    nodes
        .into_iter()
        .filter_map(|n| n.get("reference").and_then(Json::as_str))
        .filter(|r| !r.contains("://"))
        .map(str::to_owned)
        .collect()
}
