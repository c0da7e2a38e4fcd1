//! Tools for IT staff: `explain` shows the SQL a request would run, `preview` shows the FHIR a
//! patient's rows produce with the mapping problems found. Both print to the terminal of the
//! person running them; nothing here is logged.

use crate::fhir;
use crate::runtime::{DataService, Snapshot};
use crate::search::{self, SearchRequest};
use dva_source_api::{Statement, Value};
use std::fmt::Write;
use std::sync::Arc;

/// Stands in for the patient's key, which only a token decides.
const PATIENT_KEY: &str = "<patient key from patient_lookup>";

/// A request as written on the command line: `GET /fhir/stu3/gp-data/Observation?code=...`.
struct Target<'a> {
    service: &'a Arc<DataService>,
    resource_type: String,
    id: Option<String>,
    query: String,
}

fn target<'a>(snapshot: &'a Snapshot, request: &str) -> Result<Target<'a>, String> {
    let request = request.trim();
    let url = match request.split_once(char::is_whitespace) {
        Some((method, rest)) if method.eq_ignore_ascii_case("GET") => rest.trim(),
        Some((method, _)) => return Err(format!("only GET requests are served, not {method}")),
        None => request,
    };
    // Accept a full URL too: keep the path and query.
    let url = match url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
        Some(rest) => rest.find('/').map_or("/", |p| &rest[p..]),
        None => url,
    };
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let (service, rest) = snapshot.service_for_path(path).ok_or_else(|| {
        let bases: Vec<&str> = snapshot.services.iter().map(|s| s.base_path.as_str()).collect();
        format!("no data service serves {path} (base paths: {})", bases.join(", "))
    })?;
    let mut parts = rest.splitn(2, '/');
    let resource_type = parts.next().unwrap_or_default().to_owned();
    let id = parts.next().map(str::to_owned);
    if resource_type.is_empty() || resource_type == "metadata" {
        return Err("metadata runs no SQL; give a search or a read".into());
    }
    if service.type_search(&resource_type).is_none() {
        return Err(format!("{resource_type} is not mapped in data service {}", service.name));
    }
    Ok(Target { service, resource_type, id, query: query.to_owned() })
}

fn parse(service: &DataService, resource_type: &str, query: &str) -> Result<SearchRequest, String> {
    service.parse_search(resource_type, query).map_err(|e| format!("the server would answer 400: {e}"))
}

fn print_statement(out: &mut String, title: &str, statement: &Statement) {
    let _ = writeln!(out, "-- {title}\n{}", statement.sql);
    for (i, bind) in statement.binds.iter().enumerate() {
        let shown = match bind {
            Value::Text(t) if t == PATIENT_KEY => PATIENT_KEY.to_owned(),
            Value::Text(t) => format!("'{t}'"),
            other => other.to_text().unwrap_or_else(|| "NULL".into()),
        };
        let _ = writeln!(out, "--   bind {}: {shown}", i + 1);
    }
    out.push('\n');
}

/// The statements a request would run, in order, with their binds. Runs nothing.
pub fn explain(snapshot: &Snapshot, request: &str) -> Result<String, String> {
    let t = target(snapshot, request)?;
    let service = t.service;
    let style = service.source.sql_style();
    let mut out = String::new();
    let lookup = search::lookup_statement(&service.mappings.patient_lookup, style, "<BSN from the access token>");
    print_statement(&mut out, "1. the patient's key, from the BSN in the access token", &lookup);
    let patient = Value::Text(PATIENT_KEY.into());
    let mut step = 2;
    let mappings: Vec<_> = service.mappings.for_type(&t.resource_type).collect();
    if let Some(id) = &t.id {
        for mapping in &mappings {
            if let Some(value) = mapping.id.column_value(id) {
                let s = search::read_statement(mapping, style, &patient, value);
                print_statement(&mut out, &format!("{step}. read {} ({})", id, mapping.file.display()), &s);
                explain_children(&mut out, &mut step, mapping, style, &patient);
                return Ok(out);
            }
        }
        let _ = writeln!(
            out,
            "-- no mapping of {} has an id like `{id}`: the server answers 404 without SQL",
            t.resource_type
        );
        return Ok(out);
    }
    let request = parse(service, &t.resource_type, &t.query)?;
    for (i, mapping) in mappings.iter().enumerate().skip(request.cursor.mapping) {
        let offset = if i == request.cursor.mapping { request.cursor.offset } else { 0 };
        let limit = request.count as u64 + 1;
        let title = format!(
            "{step}. matches from {} (one more row than _count tells whether a next page exists)",
            mapping.file.display()
        );
        match search::page_statement(
            mapping,
            style,
            &patient,
            &request.criteria,
            &service.mappings.code_tables,
            limit,
            offset,
        ) {
            Some(s) => print_statement(&mut out, &title, &s),
            None => {
                let _ = writeln!(
                    out,
                    "-- {step}. {}: skipped, its rows cannot match these parameters\n",
                    mapping.file.display()
                );
            }
        }
        step += 1;
        explain_children(&mut out, &mut step, mapping, style, &patient);
    }
    out.push_str("-- Mappings run in this order until the page is full; the rest are probed with a limit of 1 for the next link.\n");
    if !request.includes.is_empty() {
        let _ = writeln!(
            out,
            "-- then, for {}: a read per referenced resource, as `explain 'GET <base>/<Type>/<id>'` shows",
            request.includes.join(", ")
        );
    }
    Ok(out)
}

fn explain_children(
    out: &mut String,
    step: &mut usize,
    mapping: &crate::mapping::CompiledMapping,
    style: dva_source_api::SqlStyle,
    patient: &Value,
) {
    for child in &mapping.scope.children {
        let keys = [Value::Text(format!("<{} of the page's rows>", child.parent_key))];
        for s in search::child_statements(&child.query, &child.key, &child.order_by, style, patient, &keys) {
            let title = format!(
                "{step}. child rows `{}`: one statement per {} parent rows on the page",
                child.name,
                search::CHILD_BATCH
            );
            print_statement(out, &title, &s);
            *step += 1;
        }
    }
}

/// What a patient's rows become: the first page of a search (or a read) as a Bundle, and the
/// mapping problems found. Prints patient data: for IT staff at their own terminal.
pub fn preview(snapshot: &Snapshot, bsn: &str, request: &str) -> Result<(serde_json::Value, Vec<String>), String> {
    let t = target(snapshot, request)?;
    let service = t.service;
    let key = service.patient_key(bsn).map_err(|e| e.to_string())?.ok_or("no live patient record has this BSN")?;
    let base = format!("http://preview{}", service.base_path);
    if let Some(id) = &t.id {
        let (resource, problems) = service.read(&key, &t.resource_type, id).map_err(|e| e.to_string())?;
        let resource =
            resource.ok_or_else(|| format!("{}/{id} is not one of this patient's resources", t.resource_type))?;
        return Ok((resource.json, located(service, problems)));
    }
    let request = parse(service, &t.resource_type, &t.query)?;
    let page = service.search(&key, &t.resource_type, &request).map_err(|e| e.to_string())?;
    let self_link = format!("{base}/{}?{}", t.resource_type, t.query);
    let next = page.next.map(|c| format!("{self_link}&_cursor={}", c.to_param()));
    let bundle = fhir::searchset(&base, &self_link, next.as_deref(), page.total, page.entries);
    Ok((bundle, located(service, page.problems)))
}

/// Problems named by the file of their mapping, which may be in the shared folder.
fn located(service: &DataService, problems: Vec<crate::engine::Problem>) -> Vec<String> {
    problems
        .into_iter()
        .map(|p| match service.mappings.file_of(&p.mapping) {
            Some(file) => format!("{}: {}", file.display(), p.message),
            None => format!("{}: {}", p.mapping, p.message),
        })
        .collect()
}
