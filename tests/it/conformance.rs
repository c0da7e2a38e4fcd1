//! The Nictiz qualification scripts, run against a server loaded with their own fixtures.
//!
//! The scripts (TestScript XML in ../shared/nictiz-testscripts, read at test time) are
//! interpreted step by step: every search, read and GET they send is sent here too, in JSON
//! and in XML, and the asserts they make are checked: status codes, counts per resource type,
//! documents by LOINC type, not-supported for DocumentManifest, the PDF by plain GET and not
//! without a token. On top, every response keeps the generic MedMij rules, every JSON response
//! is validated by the independent STU3 models of Python `fhir.resources`, and every XML
//! response must read, by that independent parser, as the same resource as its JSON.
//!
//! FHIRPath expressions of the scripts are not evaluated in general; the ones checked are
//! listed in `check_expression`, the others are printed as skipped.

use crate::harness::{get_url, references, resources, self_link, serve_config, Reply};
use crate::validation::{medmij_violations, python};
use dva_demo_his as demo;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/nictiz-testscripts");

/// The data services and the folders of their server-side scripts.
const SERVICES: &[(&str, &str)] = &[
    ("gp-data", "src/GenPractData-2-0/Cert/XIS-Server"),
    ("bgz", "src/BgZ-3-0/Cert/XIS-Server"),
    ("pdfa", "src/PDFA-3-0/Cert/XIS-Server"),
];

/// A server with every demo-his mapping set over a database holding only the qualification
/// patients, loaded with `today` as the fixtures' "today". Returns its root URL
/// (`http://127.0.0.1:port`), its folder and the test tokens.
pub(crate) fn qualification_server_on(
    today: chrono::NaiveDate,
) -> (String, tempfile::TempDir, Vec<demo::qualification::QualificationToken>) {
    let scripts = Path::new(SCRIPTS);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("qualification.sqlite");
    demo::create_qualification_database(&db, scripts, today).expect("load the qualification data");
    let tokens = demo::qualification::tokens(scripts).expect("qualification tokens");
    let token_file: Vec<Json> = tokens
        .iter()
        .map(|t| serde_json::json!({"accessToken": format!("Bearer {}", t.token), "bsn": t.bsn}))
        .collect();
    std::fs::write(dir.path().join("tokens.json"), serde_json::to_string(&token_file).expect("json")).expect("tokens");
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\nproduction = false\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
         [auth]\nmode = \"static\"\ntoken_file = \"tokens.json\"\n\n[sources.ehr]\nkind = \"sqlite\"\npath = \"{}\"\n",
        db.display()
    );
    for (service, _) in SERVICES {
        let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his").join(service);
        config.push_str(&format!(
            "\n[[services]]\nname = \"{service}\"\nbase_path = \"/fhir/stu3/{service}\"\nmappings = \"{}\"\nsource = \"ehr\"\n",
            mappings.display()
        ));
    }
    let config_file = dir.path().join("dva-connector.toml");
    std::fs::write(&config_file, config).expect("config");
    dva_connector::audit::new_key(&dir.path().join("audit.key")).expect("audit key file");
    let app = serve_config(dir, &config_file, PathBuf::new(), false);
    let root = app.base.split("/fhir/").next().unwrap_or_default().to_owned();
    (root, app.dir, tokens)
}

fn qualification_server() -> (String, tempfile::TempDir, Vec<demo::qualification::QualificationToken>) {
    qualification_server_on(chrono::Local::now().date_naive())
}

/// The last response of a script, for the asserts that follow it.
struct Last {
    url: String,
    reply: Reply,
}

/// What one run of all scripts collected.
#[derive(Default)]
struct Run {
    /// JSON responses, for the STU3 models.
    json: Vec<Json>,
    /// `{"json", "xml"}` pairs of the same request.
    pairs: Vec<Json>,
    checked: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Run {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.failures.push(what());
        }
    }
}

#[test]
fn the_qualification_scripts_pass_in_json_and_xml() {
    let (root, _dir, tokens) = qualification_server();
    let mut run = Run::default();
    let mut scripts_run = 0;
    for (service, folder) in SERVICES {
        let base = format!("{root}/fhir/stu3/{service}");
        let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(SCRIPTS).join(folder))
            .expect("script folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            // The "receive" scenarios (3.x) are the Delen direction: not served by this connector.
            .filter(|p| !p.to_string_lossy().contains("-receive-"))
            .collect();
        files.sort();
        for file in files {
            run_script(&file, &base, &tokens, &mut run);
            scripts_run += 1;
        }
    }
    let python = python();
    let responses = _dir.path().join("responses.json");
    std::fs::write(&responses, serde_json::to_string(&run.json).expect("json")).expect("write");
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/validate_fhir.py"))
        .arg("stu3")
        .arg(&responses)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}); run scripts/test, which installs fhir.resources"));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    run.check(out.status.success() && report.contains(&format!("{} valid", run.json.len())), || {
        format!("fhir.resources rejected our output:\n{report}")
    });
    let pairs = _dir.path().join("pairs.json");
    std::fs::write(&pairs, serde_json::to_string(&run.pairs).expect("json")).expect("write");
    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/compare_xml.py"))
        .arg("stu3")
        .arg(&pairs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e})"));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    run.check(out.status.success() && report.contains(&format!("{} same", run.pairs.len())), || {
        format!("XML and JSON differ:\n{report}")
    });
    eprintln!(
        "conformance: {scripts_run} scripts, {} checks, {} JSON responses validated, {} XML/JSON pairs; skipped: {:#?}",
        run.checked,
        run.json.len(),
        run.pairs.len(),
        run.skipped
    );
    assert!(scripts_run >= 17, "the scripts were not found under {SCRIPTS}");
    assert!(run.failures.is_empty(), "{} failures:\n{}", run.failures.len(), run.failures.join("\n"));
}

fn run_script(file: &Path, base: &str, tokens: &[demo::qualification::QualificationToken], run: &mut Run) {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let text = std::fs::read_to_string(file).expect("script");
    let doc = roxmltree::Document::parse(&text).expect("script XML");
    let script = doc.root_element();
    let patient = script
        .descendants()
        .find(|n| n.tag_name().name() == "authToken")
        .and_then(|n| n.attribute("patientResourceId"))
        .unwrap_or_default();
    let holder = tokens.iter().find(|t| t.resource_id == patient);
    let holder = holder.unwrap_or_else(|| panic!("{name}: no token for {patient}"));
    let (token, bsn) = (holder.token.clone(), holder.bsn.clone().unwrap_or_default());
    let today = chrono::Local::now().date_naive();
    let mut variables: HashMap<String, String> = HashMap::new();
    let mut responses: HashMap<String, Json> = HashMap::new();
    let mut last: Option<Last> = None;
    // This connector serves no DocumentManifest: the PDF/A scripts' "NoManifest" target.
    let target = if base.ends_with("/pdfa") { "NoManifest" } else { "#default" };
    // Script-level variables: the first document of a stored search, once it is there.
    let lazy: Vec<(String, String)> = script
        .children()
        .filter(|n| n.tag_name().name() == "variable")
        .map(|v| (child_value(v, "name"), child_value(v, "sourceId")))
        .collect();
    for test in script.children().filter(|n| n.tag_name().name() == "test") {
        for step in test.descendants().filter(|n| n.is_element()) {
            let at = format!("{name} {}", test.attribute("id").unwrap_or_default());
            let attr = |a: &str| step.attribute(a).unwrap_or_default().to_owned();
            if in_other_target(step, target) {
                continue;
            }
            match (step.tag_name().name(), step.attribute("value")) {
                ("include", Some("medmij/test.xis.successfulSearch" | "medmij/test.xis.search")) => {
                    let params = demo::qualification::fixture::resolve_dates(&attr("params"), today);
                    let url = format!("{base}/{}{params}", attr("resource"));
                    let reply = request(&url, Some(&token), run, &at);
                    if step.attribute("value") == Some("medmij/test.xis.successfulSearch") {
                        check_search(&reply, &url, base, (&token, &bsn), &at, run);
                    }
                    if let Some(id) = step.attribute("responseId") {
                        responses.insert(id.to_owned(), reply.body.clone());
                    }
                    last = Some(Last { url, reply });
                }
                ("include", Some("medmij/test.xis.read")) => {
                    let url = format!("{base}/{}/{}", attr("resource"), attr("id"));
                    let reply = request(&url, Some(&token), run, &at);
                    last = Some(Last { url, reply });
                }
                ("include", Some("variable.fixture.PDFFromBundle")) => {
                    let index: usize = attr("index").parse().unwrap_or(0);
                    let bundle = responses.get(&attr("sourceId")).cloned().unwrap_or_default();
                    variables.insert(attr("variableName"), document_url(&bundle, index));
                }
                ("include", Some("operation.xis.readUrl")) => {
                    let url = substitute(&attr("url"), &variables);
                    let reply = request(&url, Some(&token), run, &at);
                    last = Some(Last { url, reply });
                }
                ("variable", _) => {
                    // The scripts' own URL variables: the first document of a stored search.
                    let source = child_value(step, "sourceId");
                    let name = child_value(step, "name");
                    if let Some(bundle) = responses.get(&source) {
                        variables.insert(name, document_url(bundle, 0));
                    }
                }
                ("operation", _) if step.attribute(("http://nictiz.nl/xsl/testscript", "addAccept")).is_some() => {
                    for (name, source) in &lazy {
                        if let Some(bundle) = responses.get(source) {
                            variables.insert(name.clone(), document_url(bundle, 0));
                        }
                    }
                    let url = substitute(&child_value(step, "url"), &variables);
                    let with_token = step.descendants().any(|n| n.tag_name().name() == "requestHeader");
                    // As a browser or download manager sends it: no Accept header.
                    last = Some(Last { reply: get_url(&url, with_token.then_some(token.as_str()), None), url });
                }
                ("include", Some(component)) => {
                    if let Some(last) = &last {
                        check_component(component, step, last, &at, run);
                    }
                }
                ("assert", _) => {
                    if let Some(last) = &last {
                        check_assert(step, last, &at, run);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Steps meant for other test targets than `target` (e.g. Nictiz-internal checks, or servers
/// with DocumentManifest).
fn in_other_target(step: roxmltree::Node<'_, '_>, target: &str) -> bool {
    let targets = step.ancestors().find_map(|n| n.attribute(("http://nictiz.nl/xsl/testscript", "in-targets")));
    targets.is_some_and(|t| !t.split_whitespace().any(|t| t == target))
}

fn child_value(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    node.children()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.attribute("value"))
        .unwrap_or_default()
        .to_owned()
}

fn substitute(text: &str, variables: &HashMap<String, String>) -> String {
    variables.iter().fold(text.to_owned(), |t, (k, v)| t.replace(&format!("${{{k}}}"), v))
}

/// The attachment URL of the `index`-th DocumentReference of a searchset, absolute: a
/// relative `Binary/...` is resolved against the base of the self link, as the scripts do.
fn document_url(bundle: &Json, index: usize) -> String {
    let documents: Vec<Json> =
        resources(bundle).into_iter().filter(|r| r["resourceType"] == "DocumentReference").collect();
    let url = documents.get(index).and_then(|d| d["content"][0]["attachment"]["url"].as_str()).unwrap_or_default();
    if url.starts_with("Binary/") {
        let link = self_link(bundle);
        let base = link.split("/DocumentReference").next().unwrap_or_default();
        format!("{base}/{url}")
    } else {
        url.to_owned()
    }
}

/// GET in JSON and in XML (as the scripts' `-json` and `-xml` variants do); the JSON reply is
/// the one asserted on, the XML one must be the same resource.
fn request(url: &str, token: Option<&str>, run: &mut Run, at: &str) -> Reply {
    let json = get_url(url, token, Some("application/fhir+json"));
    let xml = get_url(url, token, Some("application/fhir+xml"));
    run.check(json.status == xml.status, || format!("{at}: {url}: JSON {} but XML {}", json.status, xml.status));
    run.check(json.content_type.starts_with("application/fhir+json"), || {
        format!("{at}: {url}: JSON content type {}", json.content_type)
    });
    run.check(xml.content_type.starts_with("application/fhir+xml"), || {
        format!("{at}: {url}: XML content type {}", xml.content_type)
    });
    if json.body.is_object() {
        run.json.push(json.body.clone());
        run.pairs.push(serde_json::json!({"json": json.body, "xml": xml.text}));
    }
    json
}

/// medmij/assert.response.successfulSearch and the generic rules of shared/medmij.md §4.4.
fn check_search(reply: &Reply, url: &str, base: &str, who: (&str, &str), at: &str, run: &mut Run) {
    let (token, bsn) = who;
    run.check(reply.status == 200, || format!("{at}: {url}: status {} {}", reply.status, reply.body));
    if reply.status != 200 {
        return;
    }
    for violation in medmij_violations(&reply.body, bsn) {
        run.check(false, || format!("{at}: {url}: {violation}"));
    }
    // Referenced patients, practitioners and organizations must be included or readable.
    let bundle_ids: Vec<String> = resources(&reply.body)
        .iter()
        .map(|r| format!("{}/{}", r["resourceType"].as_str().unwrap_or_default(), r["id"].as_str().unwrap_or_default()))
        .collect();
    let mut refs = Vec::new();
    references(&reply.body, &mut refs);
    refs.sort();
    refs.dedup();
    for r in refs.iter().filter(|r| {
        ["Patient/", "Practitioner/", "PractitionerRole/", "Organization/"].iter().any(|p| r.starts_with(p))
    }) {
        if !bundle_ids.contains(r) {
            let read = get_url(&format!("{base}/{r}"), Some(token), None);
            run.check(read.status == 200, || {
                format!("{at}: {url}: the referenced {r} is neither included nor readable ({})", read.status)
            });
        }
    }
    let link = self_link(&reply.body);
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    run.check(query.split('&').filter(|p| !p.is_empty()).all(|p| link.contains(p)), || {
        format!("{at}: the self link {link} does not echo {query}")
    });
}

/// The shared components the scripts include as asserts.
fn check_component(component: &str, step: roxmltree::Node<'_, '_>, last: &Last, at: &str, run: &mut Run) {
    let attr = |a: &str| step.attribute(a).unwrap_or_default();
    let body = &last.reply.body;
    let count_of = |kind: &str| resources(body).iter().filter(|r| r["resourceType"] == kind).count();
    match component {
        "assert.response.numResources" => {
            let (kind, want) = (attr("resource"), attr("count").parse::<usize>().unwrap_or(usize::MAX));
            let got = count_of(kind);
            let ok = if step.attribute("atLeast").is_some() { got >= want } else { got == want };
            run.check(ok, || format!("{at}: {}: {got} {kind}, the script expects {want}", last.url));
        }
        "assert.response.variableNumberOfResults" => {
            let kind = attr("resource");
            let (min, max) = (attr("min").parse().unwrap_or(0), attr("max").parse().unwrap_or(usize::MAX));
            let got = count_of(kind);
            run.check((min..=max).contains(&got), || format!("{at}: {}: {got} {kind}, not {min}..{max}", last.url));
        }
        "assert.response.noEntries" => {
            let entries = body["entry"].as_array().map_or(0, Vec::len);
            run.check(entries == 0 || body["resourceType"] == "OperationOutcome", || {
                format!("{at}: {}: {entries} entries, the script expects none", last.url)
            });
        }
        "assert.response.resourceWithLoinc" => {
            let code = attr("code");
            let found = resources(body).iter().any(|r| {
                r["resourceType"] == "DocumentReference"
                    && r["type"]["coding"].as_array().into_iter().flatten().any(|c| c["code"] == code)
            });
            run.check(found, || format!("{at}: {}: no DocumentReference of LOINC type {code}", last.url));
        }
        "assert.response.unknownMasterIdentifier" => {
            // A warning in the scripts: a served document should not carry the fixture's own
            // master identifier (the server has its own documents).
            let (code, fixture_id) = (attr("code"), attr("masterIdentifier"));
            let echoed = resources(body).iter().any(|r| {
                r["type"]["coding"].as_array().into_iter().flatten().any(|c| c["code"] == code)
                    && r["masterIdentifier"]["value"] == fixture_id
            });
            run.check(!echoed, || {
                format!("{at}: {}: the document of type {code} echoes the fixture's masterIdentifier", last.url)
            });
        }
        "assert.response.unsupportedResource" => {
            let issue = &body["issue"][0];
            run.check(
                last.reply.status == 404
                    && body["resourceType"] == "OperationOutcome"
                    && issue["code"] == "not-supported"
                    && (issue["severity"] == "error" || issue["severity"] == "fatal"),
                || {
                    format!(
                        "{at}: {}: not a 404 not-supported OperationOutcome: {} {body}",
                        last.url, last.reply.status
                    )
                },
            );
        }
        "assert.response.success" => {
            run.check(last.reply.status == 200, || format!("{at}: {}: status {}", last.url, last.reply.status));
        }
        // Header components and the warning-only self-link rule (checked in check_search).
        "header.request.PatientToken"
        | "medmij/header.request.MedMijRequestId"
        | "medmij/header.request.MedMijXCorrelationId"
        | "medmij/assert.response.successfulSearch"
        | "assert.response.queryParamsInSelfLink" => {}
        other => {
            let note = format!("component {other}");
            if !run.skipped.contains(&note) {
                run.skipped.push(note);
            }
        }
    }
}

/// The scripts' own `<assert>`s: response codes, resource types, header values, and the
/// FHIRPath expressions listed in `check_expression`.
fn check_assert(step: roxmltree::Node<'_, '_>, last: &Last, at: &str, run: &mut Run) {
    let reply = &last.reply;
    let code = child_value(step, "responseCode");
    if !code.is_empty() {
        let allowed: Vec<&str> = code.split(',').map(str::trim).collect();
        let status = reply.status.to_string();
        let operator = child_value(step, "operator");
        let ok = if operator == "notEquals" {
            !allowed.contains(&status.as_str())
        } else {
            allowed.contains(&status.as_str())
        };
        run.check(ok, || format!("{at}: {}: status {status}, the script wants {operator} {code}", last.url));
    }
    let resource = child_value(step, "resource");
    if !resource.is_empty() {
        run.check(reply.body["resourceType"] == resource.as_str(), || {
            format!("{at}: {}: a {}, not a {resource}", last.url, reply.body["resourceType"])
        });
    }
    if child_value(step, "headerField") == "Content-Type" {
        let want = child_value(step, "value");
        run.check(reply.content_type.starts_with(&want), || {
            format!("{at}: {}: Content-Type {}, not {want}", last.url, reply.content_type)
        });
        run.check(reply.text.starts_with("%PDF-"), || format!("{at}: {}: the body is not a PDF", last.url));
    }
    let expression = child_value(step, "expression");
    if !expression.is_empty() && !check_expression(&expression, reply, run) {
        let note = format!("expression {}", expression.split_whitespace().collect::<Vec<_>>().join(" "));
        if !run.skipped.contains(&note) {
            run.skipped.push(note);
        }
    }
}

/// The FHIRPath asserts of the scripts that this test evaluates; false for others.
fn check_expression(expression: &str, reply: &Reply, run: &mut Run) -> bool {
    let body = &reply.body;
    let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
    if expression.contains("section.where(code.coding.system = 'http://fhir.nl/fhir/NamingSystem/journaalregeltypen'") {
        let code = if expression.contains("code.coding.code = 'S'") { "S" } else { "O" };
        let found =
            resources(body).iter().flat_map(|r| r["section"].as_array().cloned().unwrap_or_default()).any(|s| {
                s["code"]["coding"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["system"] == "http://fhir.nl/fhir/NamingSystem/journaalregeltypen" && c["code"] == code)
            });
        run.check(!found, || format!("a Composition section with journal line type {code}"));
        return true;
    }
    if let Some(rest) = expression.strip_prefix("Bundle.entry.resource.where(is(") {
        // "X count = X-with-elements count": every X has the named elements.
        let kind = rest.split(')').next().unwrap_or_default();
        let elements: Vec<&str> =
            expression.rsplit(" and ").map(|p| p.trim_end_matches(").count()").trim_end_matches(".exists()")).collect();
        let wanted: Vec<&str> = elements.into_iter().filter(|e| !e.contains('(') && !e.contains(' ')).collect();
        for r in resources(body).iter().filter(|r| r["resourceType"] == kind) {
            for element in &wanted {
                run.check(!r[*element].is_null(), || format!("{kind}/{} has no {element}", r["id"]));
            }
        }
        return !wanted.is_empty();
    }
    if let Some(rest) = expression.strip_prefix("Bundle.entry.where(resource.is(") {
        let kind = rest.split(')').next().unwrap_or_default();
        let got = resources(body).iter().filter(|r| r["resourceType"] == kind).count();
        if let Some(n) = expression.rsplit(">= ").next().filter(|_| expression.contains(").count() >= ")) {
            let n: usize = n.trim().parse().unwrap_or(usize::MAX);
            run.check(got >= n, || format!("{got} {kind}, the script expects at least {n}"));
            return true;
        }
    }
    false
}

/// `Type:param:Target` includes follow only references to Target: the qualification patient
/// XXX_Helleman pays one coverage himself and has an insurer for the other.
#[test]
fn type_qualified_includes_follow_only_their_target() {
    let (root, _dir, tokens) = qualification_server();
    let token = tokens.iter().find(|t| t.resource_id == "medmij-bgz-patient-ts-01").map(|t| t.token.clone());
    let token = token.expect("a token for XXX_Helleman");
    for target in ["Patient", "Organization"] {
        let url = format!("{root}/fhir/stu3/bgz/Coverage?_include=Coverage:payor:{target}");
        let reply = get_url(&url, Some(&token), None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let entries = reply.body["entry"].as_array().cloned().unwrap_or_default();
        let included: Vec<&str> = entries
            .iter()
            .filter(|e| e["search"]["mode"] == "include")
            .filter_map(|e| e["resource"]["resourceType"].as_str())
            .collect();
        assert_eq!(included, [target], "{url}");
    }
}
