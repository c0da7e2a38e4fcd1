//! `service.yaml`: what one data service's mapping set needs besides its resource mappings
//! (FHIR version, how a BSN finds the patient, code tables, SQL fragments), and the folder of
//! parts it shares with the other data services of the same EHR product (`use:`): that
//! folder's `common.yaml` (code tables, SQL fragments, a patient lookup) and the shared
//! mapping files the set lists. What the set defines itself comes first; the shared folder
//! fills in the rest.

use super::read::{check_keys, check_params, parse_yaml, read_yaml, required_text};
use super::sql::{is_identifier, SqlText};
use super::template::list_or_none;
use super::yaml::{self, Node};
use super::CodeTable;
use crate::diagnostics::{quoted, Diagnostics, Pos};
use crate::fhir::FhirVersion;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub(super) const SERVICE_FILE: &str = "service.yaml";
/// The file of a shared folder that holds its code tables, fragments and patient lookup.
pub(super) const COMMON_FILE: &str = "common.yaml";

/// A compiled service.yaml, with what its shared folder adds.
pub(super) struct Service {
    pub fhir: FhirVersion,
    pub patient_lookup: SqlText,
    /// Where the patient lookup is written (service.yaml, or the shared common.yaml).
    pub patient_lookup_at: (PathBuf, Pos),
    pub code_tables: Vec<CodeTable>,
    pub table_index: BTreeMap<String, usize>,
    pub fragments: BTreeMap<String, Fragment>,
    /// The shared folder, and the mapping files of it this set serves.
    pub shared: Option<Shared>,
}

pub(super) struct Shared {
    pub folder: PathBuf,
    pub mappings: Vec<(PathBuf, Pos)>,
}

/// A named piece of SQL, written once and used in many queries as `{{name}}` or
/// `{{name(alias, ...)}}`; its text names the parameters as `{param}`.
#[derive(Debug, Clone)]
pub(super) struct Fragment {
    pub params: Vec<String>,
    pub text: String,
    pub file: PathBuf,
    pub pos: Pos,
}

/// The parts of a file that a service.yaml and a common.yaml can both hold.
#[derive(Default)]
struct Parts {
    patient_lookup: Option<(String, PathBuf, Pos)>,
    code_tables: Vec<CodeTable>,
    fragments: BTreeMap<String, Fragment>,
}

/// Where the common.yaml of a `use:` folder comes from.
pub(super) enum Common<'a> {
    /// The folder on disk, as `use:` names it.
    OnDisk,
    /// This text, without touching the disk (and without shared mapping files): for checking
    /// texts alone.
    Text(&'a str),
}

pub(super) fn compile_service(path: &Path, doc: &Node, common: Common, diags: &mut Diagnostics) -> Option<Service> {
    check_keys(path, doc, &["fhir", "patient_lookup", "code_tables", "sql", "use", "description"], diags);
    let fhir = match doc.get("fhir") {
        Some(n) => parse_version(path, n, diags),
        None => {
            diags.error(path, doc.pos, "missing `fhir:` (stu3 or r4)");
            None
        }
    };
    let own = compile_parts(path, doc, diags);
    let (shared, from_shared) = match doc.get("use") {
        Some(node) => match compile_use(path, node, common, diags) {
            Some((shared, parts)) => (Some(shared), parts),
            None => (None, Parts::default()),
        },
        None => (None, Parts::default()),
    };
    // The set's own first; the shared folder fills in what the set does not define.
    let Parts { patient_lookup, mut code_tables, mut fragments } = own;
    let own_tables: Vec<String> = code_tables.iter().map(|t| t.name.clone()).collect();
    code_tables.extend(from_shared.code_tables.into_iter().filter(|t| !own_tables.contains(&t.name)));
    for (name, fragment) in from_shared.fragments {
        fragments.entry(name).or_insert(fragment);
    }
    let table_index = code_tables.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    let lookup = patient_lookup.or(from_shared.patient_lookup);
    let Some((text, file, pos)) = lookup else {
        diags.error(path, doc.pos, "missing `patient_lookup:` (here or in the shared folder's common.yaml)");
        return None;
    };
    let expanded = expand_fragments(&text, &file, pos, &fragments, diags)?;
    let patient_lookup = SqlText::parse(&expanded);
    check_params(&file, pos, &patient_lookup, "bsn", diags);
    Some(Service {
        fhir: fhir?,
        patient_lookup,
        patient_lookup_at: (file, pos),
        code_tables,
        table_index,
        fragments,
        shared,
    })
}

/// `use:`: the shared folder (relative to this set's folder) and which of its mapping files
/// this set serves: `use: { folder: ../common, mappings: [patient.yaml, practitioner.yaml] }`.
fn compile_use(path: &Path, node: &Node, common: Common, diags: &mut Diagnostics) -> Option<(Shared, Parts)> {
    check_keys(path, node, &["folder", "mappings"], diags);
    let (folder, folder_pos) = required_text(path, node, "folder", diags)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let folder = base.join(folder);
    if let Common::Text(text) = common {
        let file = folder.join(COMMON_FILE);
        let parts = parse_yaml(&file, text, diags).map(|doc| compile_common(&file, &doc, diags)).unwrap_or_default();
        return Some((Shared { folder, mappings: Vec::new() }, parts));
    }
    if !folder.is_dir() {
        diags.error(path, folder_pos, format!("the shared folder {} does not exist", folder.display()));
        return None;
    }
    // One name for one folder, however each set reaches it (messages, the file watcher).
    let folder = folder.canonicalize().unwrap_or(folder);
    let common = folder.join(COMMON_FILE);
    let parts =
        if common.is_file() { compile_common(&common, &read_yaml(&common, diags)?, diags) } else { Parts::default() };
    let mut mappings = Vec::new();
    for item in node.get("mappings").map_or(&[][..], |m| m.as_seq().unwrap_or_default()) {
        let Some(name) = item.as_text() else {
            diags.error(path, item.pos, "`use.mappings` lists file names of the shared folder");
            continue;
        };
        let file = folder.join(name);
        if name.contains('/') || !(name.ends_with(".yaml") || name.ends_with(".yml")) || !file.is_file() {
            diags.error(
                path,
                item.pos,
                format!("`{}` is not a mapping file of the shared folder {}", quoted(name), folder.display()),
            );
            continue;
        }
        mappings.push((file, item.pos));
    }
    if let Some(m) = node.get("mappings").filter(|m| m.as_seq().is_none()) {
        diags.error(path, m.pos, "`use.mappings` is a list of file names, e.g. [patient.yaml, practitioner.yaml]");
    }
    Some((Shared { folder, mappings }, parts))
}

fn compile_common(path: &Path, doc: &Node, diags: &mut Diagnostics) -> Parts {
    check_keys(path, doc, &["patient_lookup", "code_tables", "sql", "description"], diags);
    compile_parts(path, doc, diags)
}

/// The keys a service.yaml and a common.yaml share: `patient_lookup`, `code_tables`, `sql`.
fn compile_parts(path: &Path, doc: &Node, diags: &mut Diagnostics) -> Parts {
    let mut parts = Parts::default();
    if doc.get("patient_lookup").is_some() {
        if let Some((sql, pos)) = required_text(path, doc, "patient_lookup", diags) {
            parts.patient_lookup = Some((sql.to_owned(), path.to_path_buf(), pos));
        }
    }
    if let Some(tables) = doc.get("code_tables") {
        match tables.as_map() {
            Some(entries) => {
                for (name, table) in entries {
                    let name_text = name.as_text().unwrap_or_default().to_owned();
                    if let Some(t) = compile_code_table(path, &name_text, table, diags) {
                        parts.code_tables.push(t);
                    }
                }
            }
            None => diags.error(path, tables.pos, "`code_tables:` must map table names to tables"),
        }
    }
    if let Some(sql) = doc.get("sql") {
        match sql.as_map() {
            Some(entries) => {
                for (name, def) in entries {
                    let name_text = name.as_text().unwrap_or_default();
                    if !is_identifier(name_text) || name_text.contains('.') {
                        diags.error(path, name.pos, format!("`{}` cannot name a fragment", quoted(name_text)));
                        continue;
                    }
                    if let Some(f) = compile_fragment(path, def, diags) {
                        parts.fragments.insert(name_text.to_owned(), f);
                    }
                }
            }
            None => diags.error(path, sql.pos, "`sql:` maps fragment names to SQL text (or {params, text})"),
        }
    }
    parts
}

/// A fragment: plain text, or `{params: [a, b], text: ...}` whose text says `{a}` and `{b}`.
fn compile_fragment(path: &Path, def: &Node, diags: &mut Diagnostics) -> Option<Fragment> {
    let file = path.to_path_buf();
    if let Some(text) = def.as_text() {
        return Some(Fragment { params: Vec::new(), text: text.to_owned(), file, pos: def.pos });
    }
    check_keys(path, def, &["params", "text"], diags);
    let (text, pos) = required_text(path, def, "text", diags)?;
    let mut params = Vec::new();
    for p in def.get("params").map_or(&[][..], |p| p.as_seq().unwrap_or_default()) {
        match p.as_text().filter(|t| is_identifier(t) && !t.contains('.')) {
            Some(name) if text.contains(&format!("{{{name}}}")) => params.push(name.to_owned()),
            Some(name) => {
                diags.error(path, p.pos, format!("parameter `{name}` is not used in the text as `{{{name}}}`"))
            }
            None => diags.error(path, p.pos, format!("a fragment parameter is a name, found {}", p.describe())),
        }
    }
    Some(Fragment { params, text: text.to_owned(), file, pos })
}

/// How deep fragments may use fragments (a deeper chain is taken for a cycle).
const MAX_FRAGMENT_DEPTH: usize = 8;

/// `sql` with every `{{name}}` and `{{name(arg, ...)}}` replaced by its fragment's text (the
/// arguments, table aliases or column names, for its parameters). Problems are reported at
/// `file:pos` (the query), or in the fragment's own file when its text is at fault.
pub(super) fn expand_fragments(
    sql: &str,
    file: &Path,
    pos: Pos,
    fragments: &BTreeMap<String, Fragment>,
    diags: &mut Diagnostics,
) -> Option<String> {
    expand_at(sql, file, pos, fragments, diags, 0)
}

fn expand_at(
    sql: &str,
    file: &Path,
    pos: Pos,
    fragments: &BTreeMap<String, Fragment>,
    diags: &mut Diagnostics,
    depth: usize,
) -> Option<String> {
    if !sql.contains("{{") {
        return Some(sql.to_owned());
    }
    if depth >= MAX_FRAGMENT_DEPTH {
        diags.error(file, pos, format!("SQL fragments use each other more than {MAX_FRAGMENT_DEPTH} deep (a cycle?)"));
        return None;
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            diags.error(file, pos, "`{{` without a closing `}}`");
            return None;
        };
        let call = after[..end].trim();
        let (name, args) = match call.split_once('(') {
            Some((name, args)) => {
                let Some(args) = args.trim_end().strip_suffix(')') else {
                    diags.error(file, pos, format!("`{{{{{}}}}}`: expected `name(arg, ...)`", quoted(call)));
                    return None;
                };
                (name.trim(), args.split(',').map(str::trim).filter(|a| !a.is_empty()).collect::<Vec<_>>())
            }
            None => (call, Vec::new()),
        };
        let Some(fragment) = fragments.get(name) else {
            let known: Vec<&str> = fragments.keys().map(String::as_str).collect();
            diags.error(
                file,
                pos,
                format!("unknown SQL fragment `{}` (defined under `sql:`: {})", quoted(name), list_or_none(&known)),
            );
            return None;
        };
        if args.len() != fragment.params.len() || args.iter().any(|a| !is_identifier(a)) {
            diags.error(
                file,
                pos,
                format!(
                    "`{{{{{}}}}}`: fragment `{name}` takes {} ({}), names of the query only",
                    quoted(call),
                    fragment.params.len(),
                    list_or_none(&fragment.params.iter().map(String::as_str).collect::<Vec<_>>())
                ),
            );
            return None;
        }
        let mut text = fragment.text.clone();
        for (param, arg) in fragment.params.iter().zip(&args) {
            text = text.replace(&format!("{{{param}}}"), arg);
        }
        out.push_str(&expand_at(&text, &fragment.file, fragment.pos, fragments, diags, depth + 1)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

fn parse_version(path: &Path, node: &Node, diags: &mut Diagnostics) -> Option<FhirVersion> {
    match node.as_text() {
        Some("stu3") => Some(FhirVersion::Stu3),
        Some("r4") => Some(FhirVersion::R4),
        _ => {
            diags.error(path, node.pos, format!("unknown FHIR version {}; expected stu3 or r4", node.describe()));
            None
        }
    }
}

fn compile_code_table(path: &Path, name: &str, node: &Node, diags: &mut Diagnostics) -> Option<CodeTable> {
    let Some(entries) = node.as_map() else {
        diags.error(path, node.pos, format!("code table `{name}` must map local codes to FHIR values"));
        return None;
    };
    let mut table = CodeTable { name: name.to_owned(), entries: HashMap::new(), default: None };
    for (code, value) in entries {
        let json = constant_json(path, value, diags)?;
        if let Json::Object(o) = &json {
            if o.contains_key("code") != o.contains_key("system") && o.contains_key("display") {
                diags.warning(path, value.pos, "a Coding should have both `system` and `code`");
            }
        }
        match code.as_text() {
            Some("_default") => table.default = Some(json),
            Some(c) => {
                table.entries.insert(c.trim().to_owned(), json);
            }
            None => diags.error(path, code.pos, "a code must be a plain value"),
        }
    }
    Some(table)
}

/// A YAML node without `{column}` references, as JSON.
fn constant_json(path: &Path, node: &Node, diags: &mut Diagnostics) -> Option<Json> {
    use yaml::{NodeKind, Scalar};
    Some(match &node.kind {
        NodeKind::Scalar { .. } => match node.scalar() {
            Some(Scalar::Null) | None => Json::Null,
            Some(Scalar::Bool(b)) => Json::Bool(b),
            Some(Scalar::Int(i)) => Json::from(i),
            Some(Scalar::Float(f)) => serde_json::from_str(f).unwrap_or_else(|_| Json::String(f.to_owned())),
            Some(Scalar::Str(s)) => {
                if s.contains('{') {
                    diags.error(
                        path,
                        node.pos,
                        "code tables hold constants; `{column}` references are not allowed here",
                    );
                    return None;
                }
                Json::String(s.to_owned())
            }
        },
        NodeKind::Seq(items) => {
            Json::Array(items.iter().map(|i| constant_json(path, i, diags)).collect::<Option<_>>()?)
        }
        NodeKind::Map(entries) => {
            let mut map = serde_json::Map::new();
            for (k, v) in entries {
                map.insert(k.as_text().unwrap_or_default().to_owned(), constant_json(path, v, diags)?);
            }
            Json::Object(map)
        }
    })
}
