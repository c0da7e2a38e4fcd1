//! Reads a mapping-set folder and compiles it, collecting every problem.

use super::read::{check_keys, check_params, parse_yaml, read_yaml, required_column, required_text};
use super::search_def::{DateStorage, SearchParamDef, Source, TokenMatch};
use super::service::{compile_service, expand_fragments, Common, Service, SERVICE_FILE};
use super::sql::{is_identifier, SqlText};
use super::template::{self, list_or_none, Piece, TemplateEnv};
use super::yaml::{self, Node};
use super::{ChildQuery, CompiledMapping, IdTemplate, IdType, MappingSet, OrderBy, Scope};
use crate::diagnostics::{quoted, Diagnostics, Pos};
use crate::fhir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Loads the mapping set in `dir`. Returns the set only when there are no errors; warnings
/// come back either way.
pub fn load_set(dir: &Path) -> (Option<MappingSet>, Diagnostics) {
    load_set_with_progress(dir, &mut |_, _| {})
}

/// [`load_set`], calling `progress(done, total)` after each mapping file.
pub fn load_set_with_progress(dir: &Path, progress: &mut dyn FnMut(usize, usize)) -> (Option<MappingSet>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let service_path = dir.join(SERVICE_FILE);
    let Some(service_doc) = read_yaml(&service_path, &mut diags) else {
        return (None, diags);
    };
    let service = compile_service(&service_path, &service_doc, Common::OnDisk, &mut diags);

    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .filter(|p| p.file_name().is_some_and(|n| n != SERVICE_FILE))
            .collect(),
        Err(e) => {
            diags.error(dir, Pos::START, format!("cannot read mapping folder: {e}"));
            return (None, diags);
        }
    };
    files.sort();
    // The shared folder's files this set serves; a file of the set's own by the same name
    // would make it unclear which one is served.
    for (file, pos) in service.as_ref().and_then(|s| s.shared.as_ref()).map_or(&[][..], |s| &s.mappings[..]) {
        if let Some(own) = files.iter().find(|f| f.file_name() == file.file_name()) {
            diags.error(
                &service_path,
                *pos,
                format!(
                    "{} is served from the shared folder, and {} exists too; keep one",
                    file.display(),
                    own.display()
                ),
            );
        } else {
            files.push(file.clone());
        }
    }
    if files.is_empty() {
        diags.error(dir, Pos::START, "the mapping set has no resource mapping files (*.yaml besides service.yaml)");
    }

    let mut mappings = Vec::new();
    if let Some(service) = &service {
        for (done, file) in files.iter().enumerate() {
            if let Some(doc) = read_yaml(file, &mut diags) {
                if let Some(m) = compile_mapping(file, &doc, service, &mut diags) {
                    mappings.push(m);
                }
            }
            progress(done + 1, files.len());
        }
    }
    mappings.sort_by(|a, b| (&a.resource_type, &a.file).cmp(&(&b.resource_type, &b.file)));
    check_id_prefixes(&mappings, &mut diags);
    super::lint::check_references(&mappings, &mut diags);

    match service {
        Some(s) if !diags.has_errors() => (
            Some(MappingSet {
                dir: dir.to_path_buf(),
                shared_dir: s.shared.map(|s| s.folder),
                fhir: s.fhir,
                patient_lookup: s.patient_lookup,
                patient_lookup_at: s.patient_lookup_at,
                code_tables: s.code_tables,
                mappings,
            }),
            diags,
        ),
        _ => (None, diags),
    }
}

/// Compiles one mapping file's text against a service.yaml text (and the common.yaml text of
/// the folder its `use:` names), with the problems `load_set` would report, without touching
/// the disk (the loader's fuzz target).
pub fn check_texts(service_yaml: &str, common_yaml: &str, mapping_yaml: &str) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let service_path = Path::new(SERVICE_FILE);
    let service = parse_yaml(service_path, service_yaml, &mut diags)
        .and_then(|doc| compile_service(service_path, &doc, Common::Text(common_yaml), &mut diags));
    let file = Path::new("mapping.yaml");
    if let (Some(service), Some(doc)) = (service, parse_yaml(file, mapping_yaml, &mut diags)) {
        compile_mapping(file, &doc, &service, &mut diags);
    }
    diags
}

const MAPPING_KEYS: &[&str] = &[
    "resource",
    "profile",
    "description",
    "query",
    "id",
    "id_type",
    "order_by",
    "search",
    "include",
    "children",
    "template",
];

fn compile_mapping(path: &Path, doc: &Node, service: &Service, diags: &mut Diagnostics) -> Option<CompiledMapping> {
    let errors_before = diags.items.len();
    check_keys(path, doc, MAPPING_KEYS, diags);
    let resource_type = required_text(path, doc, "resource", diags).and_then(|(t, pos)| {
        if fhir::is_resource_type(service.fhir, t) {
            Some(t.to_owned())
        } else {
            diags.error(path, pos, format!("`{}` is not a FHIR {} resource type", quoted(t), service.fhir.name()));
            None
        }
    });
    let profile = required_text(path, doc, "profile", diags).and_then(|(p, pos)| {
        if p.starts_with("http://") || p.starts_with("https://") {
            Some(p.to_owned())
        } else {
            diags.error(path, pos, format!("profile must be a canonical URL, found `{}`", quoted(p)));
            None
        }
    });
    let query = required_text(path, doc, "query", diags).and_then(|(q, pos)| {
        let sql = SqlText::parse(&expand_fragments(q, path, pos, &service.fragments, diags)?);
        check_params(path, pos, &sql, "patient", diags);
        Some((sql, pos))
    });

    let env = TemplateEnv { file: path, code_tables: &service.table_index };
    let mut scope = Scope::default();
    if let Some(children) = doc.get("children") {
        scope.children = compile_children(path, children, service, diags, &mut scope.columns);
    }
    let id = compile_id(path, doc, &mut scope, diags);
    let order_by = compile_order_by(path, doc, id.as_ref(), &mut scope.columns, diags);
    let search = doc.get("search").map_or_else(BTreeMap::new, |s| {
        compile_search(path, s, service, doc.get("template"), &mut scope.columns, diags)
    });
    let includes = doc.get("include").map_or_else(BTreeMap::new, |i| {
        compile_includes(path, i, resource_type.as_deref(), service, doc.get("template"), diags)
    });

    let mut references = Vec::new();
    let template = match doc.get("template") {
        Some(node) if node.as_map().is_some() => {
            for reserved in ["resourceType", "id"] {
                if let Some((k, _)) = node.as_map().and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some(reserved)))
                {
                    diags.error(path, k.pos, format!("`{reserved}` is set by the engine; remove it from the template"));
                }
            }
            super::lint::check(path, node, "", diags);
            super::lint::references(node, &mut references);
            if let Some(rt) = &resource_type {
                super::elements::check(path, service.fhir, rt, node, diags);
            }
            template::compile(node, &env, &mut scope, diags)
        }
        Some(node) => {
            diags.error(path, node.pos, "`template:` must be a mapping that looks like the FHIR resource");
            return None;
        }
        None => {
            diags.error(path, doc.pos, "missing `template:`");
            return None;
        }
    };
    if diags.items[errors_before..].iter().any(|d| d.severity == crate::diagnostics::Severity::Error) {
        return None;
    }
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let (query, query_pos) = query?;
    Some(CompiledMapping {
        file: path.to_path_buf(),
        name,
        resource_type: resource_type?,
        profile: profile?,
        query,
        query_pos,
        id: id?,
        order_by,
        search,
        includes,
        scope,
        template,
        references,
    })
}

fn compile_id(path: &Path, doc: &Node, scope: &mut Scope, diags: &mut Diagnostics) -> Option<IdTemplate> {
    let (text, pos) = required_text(path, doc, "id", diags)?;
    let env_tables = BTreeMap::new();
    let env = TemplateEnv { file: path, code_tables: &env_tables };
    let pieces = template::parse_pieces(text, pos, &env, &mut scope.columns, diags)?;
    let columns: Vec<_> = pieces.iter().filter(|p| matches!(p, Piece::Column(_))).collect();
    let [Piece::Column(column)] = columns.as_slice() else {
        diags.error(
            path,
            pos,
            format!(
                "`id` must hold exactly one `{{column}}` (with an optional literal prefix and suffix), found \"{}\"",
                quoted(text)
            ),
        );
        return None;
    };
    if !column.filters.is_empty() {
        diags.error(path, pos, "`id` takes a plain column, without filters");
        return None;
    }
    let mut prefix = String::new();
    let mut suffix = String::new();
    let mut seen_column = false;
    for p in &pieces {
        match p {
            Piece::Literal(l) if seen_column => suffix.push_str(l),
            Piece::Literal(l) => prefix.push_str(l),
            Piece::Column(_) => seen_column = true,
        }
    }
    if !(prefix.chars().chain(suffix.chars())).all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
        diags.error(path, pos, "the literal parts of `id` may only hold letters, digits, `-` and `.` (FHIR id rules)");
        return None;
    }
    let bind_as = match doc.get("id_type").map(|n| (n.as_text(), n.pos)) {
        None | Some((Some("text"), _)) => IdType::Text,
        Some((Some("integer"), _)) => IdType::Integer,
        Some((_, pos)) => {
            diags.error(path, pos, "`id_type` is `integer` or `text`");
            IdType::Text
        }
    };
    Some(IdTemplate { prefix, column: column.column.clone(), suffix, slot: column.slot, bind_as })
}

fn compile_order_by(
    path: &Path,
    doc: &Node,
    id: Option<&IdTemplate>,
    columns: &mut super::ScopeColumns,
    diags: &mut Diagnostics,
) -> Vec<OrderBy> {
    let Some(node) = doc.get("order_by") else {
        return id.map(|id| vec![OrderBy { column: id.column.clone(), descending: false }]).unwrap_or_default();
    };
    let Some(text) = node.as_text() else {
        diags.error(
            path,
            node.pos,
            "`order_by` is a comma-separated list of columns, each optionally followed by ASC or DESC",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in text.split(',') {
        let mut words = item.split_whitespace();
        let column = words.next().unwrap_or_default();
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => {
                diags.error(
                    path,
                    node.pos,
                    format!("`order_by`: expected ASC or DESC after `{column}`, found `{other}`"),
                );
                false
            }
        };
        if !is_identifier(column) || column.contains('.') || words.next().is_some() {
            diags.error(path, node.pos, format!("`order_by`: `{}` is not a column name", quoted(item.trim())));
            continue;
        }
        columns.slot(column, node.pos);
        out.push(OrderBy { column: column.to_owned(), descending });
    }
    // Paging needs a total order: the id column breaks ties.
    if let Some(id) = id {
        if !out.iter().any(|o| o.column.eq_ignore_ascii_case(&id.column)) {
            out.push(OrderBy { column: id.column.clone(), descending: false });
        }
    }
    out
}

fn compile_children(
    path: &Path,
    node: &Node,
    service: &Service,
    diags: &mut Diagnostics,
    parent: &mut super::ScopeColumns,
) -> Vec<ChildQuery> {
    let Some(entries) = node.as_map() else {
        diags.error(path, node.pos, "`children:` maps child names to {query, key, parent_key}");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, def) in entries {
        let name = name.as_text().unwrap_or_default().to_owned();
        check_keys(path, def, &["query", "key", "parent_key", "order_by", "children"], diags);
        let query = required_text(path, def, "query", diags).and_then(|(q, pos)| {
            let sql = SqlText::parse(&expand_fragments(q, path, pos, &service.fragments, diags)?);
            check_params(path, pos, &sql, "patient", diags);
            Some((sql, pos))
        });
        let key = required_column(path, def, "key", diags);
        let parent_key = required_column(path, def, "parent_key", diags);
        let mut scope = Scope::default();
        let order_by = if def.get("order_by").is_some() {
            compile_order_by(path, def, None, &mut scope.columns, diags)
        } else {
            Vec::new()
        };
        if let Some(grandchildren) = def.get("children") {
            scope.children = compile_children(path, grandchildren, service, diags, &mut scope.columns);
        }
        if let (Some((query, query_pos)), Some((key, key_pos)), Some((parent_key, parent_pos))) =
            (query, key, parent_key)
        {
            scope.columns.slot(&key, key_pos);
            let parent_key_slot = parent.slot(&parent_key, parent_pos);
            out.push(ChildQuery { name, query, query_pos, key, parent_key, parent_key_slot, order_by, scope });
        }
    }
    out
}

fn compile_search(
    path: &Path,
    node: &Node,
    service: &Service,
    template: Option<&Node>,
    columns: &mut super::ScopeColumns,
    diags: &mut Diagnostics,
) -> BTreeMap<String, SearchParamDef> {
    let mut out = BTreeMap::new();
    let Some(entries) = node.as_map() else {
        diags.error(path, node.pos, "`search:` maps parameter names to definitions");
        return out;
    };
    for (name_node, def) in entries {
        let name = name_node.as_text().unwrap_or_default();
        if name.starts_with('_') || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            diags.error(path, name_node.pos, format!("`{}` cannot be a search parameter name here", quoted(name)));
            continue;
        }
        let parsed = match def.get("type").and_then(Node::as_text) {
            Some("token") => {
                check_keys(path, def, &["type", "match", "path"], diags);
                let matches = match (def.get("path"), template) {
                    (Some(element), _) if def.get("match").is_some() => {
                        diags.error(path, element.pos, "a token parameter takes `path:` or `match:`, not both");
                        None
                    }
                    (Some(element), Some(template)) => {
                        token_from_template(path, element, template, service, columns, diags)
                    }
                    _ => compile_token(path, def, service, columns, diags),
                };
                matches.map(|matches| SearchParamDef::Token { matches })
            }
            Some("date") => {
                check_keys(path, def, &["type", "column", "start", "end", "stored_as"], diags);
                let stored_as = match def.get("stored_as").map(|n| (n.as_text(), n.pos)) {
                    None | Some((Some("timestamp"), _)) => Some(DateStorage::Timestamp),
                    Some((Some("date"), _)) => Some(DateStorage::Date),
                    Some((_, pos)) => {
                        diags.error(path, pos, "`stored_as` is `date` or `timestamp`");
                        None
                    }
                };
                let mut named = |found: Option<(String, Pos)>| {
                    found.map(|(column, pos)| {
                        columns.slot(&column, pos);
                        column
                    })
                };
                if def.get("column").is_some() || def.get("start").is_none() {
                    let column = named(required_column(path, def, "column", diags));
                    column.zip(stored_as).map(|(column, stored_as)| SearchParamDef::Date { column, stored_as })
                } else {
                    let start = named(required_column(path, def, "start", diags));
                    let end = named(required_column(path, def, "end", diags));
                    match (start, end, stored_as) {
                        (Some(start), Some(end), Some(stored_as)) => {
                            Some(SearchParamDef::Period { start, end, stored_as })
                        }
                        _ => None,
                    }
                }
            }
            _ => {
                diags.error(path, def.pos, format!("search parameter `{name}` needs `type: token` or `type: date`"));
                None
            }
        };
        if let Some(p) = parsed {
            out.insert(name.to_owned(), p);
        }
    }
    out
}

fn compile_token(
    path: &Path,
    def: &Node,
    service: &Service,
    columns: &mut super::ScopeColumns,
    diags: &mut Diagnostics,
) -> Option<Vec<TokenMatch>> {
    let Some(items) = def.get("match").and_then(Node::as_seq) else {
        diags.error(path, def.pos, "a token parameter needs `match:`, a list of {system, code}");
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        check_keys(path, item, &["system", "code"], diags);
        out.extend(token_match(path, item.pos, item.get("system"), item.get("code"), service, columns, diags));
    }
    Some(out)
}

/// One `{system, code}` a token parameter matches, from a `match:` item or a template coding:
/// each a literal or `"{column}"`; the system may come from a code table of Codings instead.
fn token_match(
    path: &Path,
    at: Pos,
    system: Option<&Node>,
    code: Option<&Node>,
    service: &Service,
    columns: &mut super::ScopeColumns,
    diags: &mut Diagnostics,
) -> Option<TokenMatch> {
    let code = code.and_then(|n| compile_source(path, n, service, columns, diags));
    let system = system.and_then(|n| compile_source(path, n, service, columns, diags));
    let Some(code) = code else {
        diags.error(path, at, "a token match needs a `code`");
        return None;
    };
    let table_gives_codings = matches!(&code, Source::Column { table: Some(t), .. }
        if service.code_tables[*t].entries.values().all(|v| v.get("system").is_some()));
    if system.is_none() && !table_gives_codings {
        diags.error(path, at, "a token match needs a `system` (unless its code table yields Codings with a system)");
        return None;
    }
    Some(TokenMatch { system, code })
}

/// A token parameter on the codings the template writes at an element (`path: code`): each
/// coding's system and code, as literals or columns, become what the search matches, so the
/// codings are written once. Codings that come from child rows (`$each`) cannot be searched in
/// the parent's SQL.
fn token_from_template(
    path: &Path,
    element: &Node,
    template: &Node,
    service: &Service,
    columns: &mut super::ScopeColumns,
    diags: &mut Diagnostics,
) -> Option<Vec<TokenMatch>> {
    let Some(dotted) = element.as_text() else {
        diags.error(path, element.pos, "`path:` names an element of the template, e.g. `code` or `category`");
        return None;
    };
    let codings = match codings_at(template, dotted) {
        Ok(codings) if !codings.is_empty() => codings,
        Ok(_) => {
            diags.error(path, element.pos, format!("the template writes no codings at `{}`", quoted(dotted)));
            return None;
        }
        Err(problem) => {
            diags.error(path, element.pos, problem);
            return None;
        }
    };
    let mut out = Vec::new();
    for coding in codings {
        let (system, code) = match coding.as_map() {
            Some(_) => (coding.get("system"), coding.get("code")),
            // `"{column | map: table}"`: the table's Codings carry the system.
            None => (None, Some(coding)),
        };
        out.extend(token_match(path, coding.pos, system, code, service, columns, diags));
    }
    Some(out)
}

/// The coding nodes of the template at a dotted element path (CodeableConcepts, lists of
/// them, or Codings).
fn codings_at<'a>(template: &'a Node, dotted: &str) -> Result<Vec<&'a Node>, String> {
    let from_child =
        || format!("the codings at `{dotted}` come from child rows (`$each`); search on them with `match:`");
    let items = |node: &'a Node| -> Result<Vec<&'a Node>, String> {
        let list: Vec<&Node> = node.as_seq().map_or_else(|| vec![node], |items| items.iter().collect());
        if list.iter().any(|n| n.get("$each").is_some()) {
            return Err(from_child());
        }
        Ok(list)
    };
    let mut nodes = vec![template];
    for step in dotted.split('.') {
        let mut next = Vec::new();
        for node in nodes {
            for item in items(node)? {
                next.extend(item.get(step));
            }
        }
        nodes = next;
    }
    let mut codings = Vec::new();
    for node in nodes {
        for item in items(node)? {
            match item.get("coding") {
                Some(list) => codings.extend(items(list)?),
                None if item.get("code").is_some() || item.as_text().is_some() => codings.push(item),
                None => {}
            }
        }
    }
    Ok(codings)
}

fn compile_source(
    path: &Path,
    node: &Node,
    service: &Service,
    columns: &mut super::ScopeColumns,
    diags: &mut Diagnostics,
) -> Option<Source> {
    let Some(text) = node.as_text() else {
        diags.error(path, node.pos, "expected a literal or \"{column}\"");
        return None;
    };
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        if text.contains('{') {
            diags.error(path, node.pos, "in `search:`, write either a literal or exactly \"{column}\"");
            return None;
        }
        return Some(Source::Literal(text.to_owned()));
    };
    let mut parts = inner.split('|').map(str::trim);
    let name = parts.next().unwrap_or_default();
    if !is_identifier(name) || name.contains('.') {
        diags.error(path, node.pos, format!("`{}` is not a column name", quoted(name)));
        return None;
    }
    let table = match parts.next() {
        None => None,
        Some(f) => match f.strip_prefix("map:").map(str::trim) {
            Some(t) => match service.table_index.get(t) {
                Some(&i) => Some(i),
                None => {
                    let known: Vec<&str> = service.table_index.keys().map(String::as_str).collect();
                    diags.error(
                        path,
                        node.pos,
                        format!("code table `{t}` is not defined in service.yaml (defined: {})", list_or_none(&known)),
                    );
                    return None;
                }
            },
            None => {
                diags.error(
                    path,
                    node.pos,
                    format!("only `map: <table>` can be used in a search column, found `{}`", quoted(f)),
                );
                return None;
            }
        },
    };
    columns.slot(name, node.pos);
    Some(Source::Column { name: name.to_owned(), table })
}

/// `include:`, as names whose element paths come from the FHIR definition of the search
/// parameter (`[Patient:general-practitioner]`), or as a map of names to the element paths they
/// follow (a path, a list of them, or `[]`: accepted, follows nothing in this source). Every path
/// must be one the template writes: an include that can never find anything is a mistake.
fn compile_includes(
    path: &Path,
    node: &Node,
    resource_type: Option<&str>,
    service: &Service,
    template: Option<&Node>,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let written = |element: &str| template.is_none_or(|t| template_writes(t, element));
    let valid_start = |name_node: &Node, diags: &mut Diagnostics| {
        let name = name_node.as_text().unwrap_or_default();
        match resource_type {
            Some(rt) if !name.starts_with(&format!("{rt}:")) => {
                diags.error(path, name_node.pos, format!("include `{}` must start with `{rt}:`", quoted(name)));
                false
            }
            _ => true,
        }
    };
    if let Some(names) = node.as_seq() {
        for name_node in names {
            if !valid_start(name_node, diags) {
                continue;
            }
            let name = name_node.as_text().unwrap_or_default();
            let param = name.split(':').nth(1).unwrap_or_default();
            let defined = resource_type.and_then(|rt| fhir::reference_paths(service.fhir, rt, param));
            let Some(paths) = defined else {
                diags.error(
                    path,
                    name_node.pos,
                    format!(
                        "`{param}` is not a reference search parameter of {} in FHIR {}; name the element \
                         paths (`{}: element`)",
                        resource_type.unwrap_or("this type"),
                        service.fhir.name(),
                        quoted(name)
                    ),
                );
                continue;
            };
            let kept: Vec<String> = paths.iter().filter(|p| written(p)).map(|p| (*p).to_owned()).collect();
            if kept.is_empty() {
                diags.error(
                    path,
                    name_node.pos,
                    format!(
                        "include `{}` follows `{}`, which the template does not write (write `{}: []` if this \
                         source never has it)",
                        quoted(name),
                        paths.join("`, `"),
                        quoted(name)
                    ),
                );
                continue;
            }
            out.insert(name.to_owned(), kept);
        }
        return out;
    }
    let Some(entries) = node.as_map() else {
        diags.error(
            path,
            node.pos,
            "`include:` lists `Type:param` names, or maps them to the element paths they follow",
        );
        return out;
    };
    for (name, paths) in entries {
        if !valid_start(name, diags) {
            continue;
        }
        let name_text = name.as_text().unwrap_or_default();
        // `[]` says so explicitly: the parameter is accepted, and finds nothing in this source.
        let explicitly_none = paths.as_seq().is_some_and(<[Node]>::is_empty);
        let listed: Vec<&Node> = match &paths.kind {
            yaml::NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![paths],
        };
        let list: Vec<(String, Pos)> =
            listed.iter().filter_map(|p| p.as_text().map(|t| (t.to_owned(), p.pos))).collect();
        if list.is_empty() && !explicitly_none
            || list
                .iter()
                .any(|(p, _)| !p.split('.').all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())))
        {
            diags.error(
                path,
                paths.pos,
                "an include follows element paths like `generalPractitioner` or `medicationReference` (or `[]`: \
                 accepted, follows nothing)",
            );
            continue;
        }
        for (element, pos) in list.iter().filter(|(e, _)| !written(e)) {
            diags.error(
                path,
                *pos,
                format!(
                    "include `{}` follows `{}`, which the template does not write (write `[]` if this source \
                     never has it)",
                    quoted(name_text),
                    quoted(element)
                ),
            );
        }
        out.insert(name_text.to_owned(), list.into_iter().map(|(p, _)| p).collect());
    }
    out
}

/// Whether the template has an element at the dotted `element` path (through lists).
fn template_writes(template: &Node, element: &str) -> bool {
    let mut nodes = vec![template];
    for step in element.split('.') {
        let mut next = Vec::new();
        for node in nodes {
            let items: Vec<&Node> = match node.as_seq() {
                Some(items) => items.iter().collect(),
                None => vec![node],
            };
            next.extend(items.into_iter().filter_map(|n| n.get(step)));
        }
        if next.is_empty() {
            return false;
        }
        nodes = next;
    }
    true
}

/// Reads of `Type/id` must land on exactly one mapping: id prefixes of one type may not overlap.
fn check_id_prefixes(mappings: &[CompiledMapping], diags: &mut Diagnostics) {
    for (i, a) in mappings.iter().enumerate() {
        for b in &mappings[i + 1..] {
            if a.resource_type == b.resource_type
                && (a.id.prefix.starts_with(&b.id.prefix) || b.id.prefix.starts_with(&a.id.prefix))
            {
                diags.error(
                    &b.file,
                    Pos::START,
                    format!(
                        "{} ids of this file (prefix `{}`) can collide with those of {} (prefix `{}`); give each mapping of a type its own id prefix",
                        b.resource_type,
                        b.id.prefix,
                        a.file.display(),
                        a.id.prefix
                    ),
                );
            }
        }
    }
}
