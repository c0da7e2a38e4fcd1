//! Mapping files (YAML) compiled once into plans the engine evaluates.
//!
//! A mapping set is a folder: `service.yaml` (FHIR version, patient lookup, code tables, SQL
//! fragments) and one file per resource mapping, plus what it uses from a shared folder of the
//! EHR product (its `common.yaml` and mapping files). Everything is checked at load; all
//! problems are reported at once with `file:line:column`, in the file that holds them. See
//! `mappings/README.md` for the format.

mod elements;
mod lint;
mod load;
mod read;
pub mod search_def;
mod service;
pub mod sql;
pub mod template;
pub mod yaml;

pub use load::{check_texts, load_set, load_set_with_progress};
pub use search_def::{DateStorage, SearchParamDef, Source, TokenMatch};
pub use sql::SqlText;
pub use template::{ArrayItem, ColumnRef, Filter, Piece, ScopeColumns, Template};

use crate::diagnostics::Pos;
use crate::fhir::FhirVersion;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// A compiled mapping set: what one data service can serve from one database.
#[derive(Debug)]
pub struct MappingSet {
    pub dir: PathBuf,
    /// The folder of parts this set shares with the EHR product's other data services.
    pub shared_dir: Option<PathBuf>,
    pub fhir: FhirVersion,
    /// Finds the patient's key from the BSN (`:bsn`); returns one column, at most one row.
    pub patient_lookup: SqlText,
    /// Where `patient_lookup:` is written (service.yaml, or the shared common.yaml).
    pub patient_lookup_at: (PathBuf, Pos),
    pub code_tables: Vec<CodeTable>,
    /// Sorted by resource type, then file name.
    pub mappings: Vec<CompiledMapping>,
}

impl MappingSet {
    /// The mappings that produce `resource_type`, in file-name order.
    pub fn for_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a CompiledMapping> + 'a {
        self.mappings.iter().filter(move |m| m.resource_type == resource_type)
    }

    /// The file of the mapping named `name` (its own folder's or the shared folder's).
    pub fn file_of(&self, name: &str) -> Option<&std::path::Path> {
        self.mappings.iter().find(|m| m.name == name).map(|m| m.file.as_path())
    }

    /// The resource types this set serves, sorted, each once.
    pub fn resource_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.mappings.iter().map(|m| m.resource_type.as_str()).collect();
        types.dedup();
        types
    }
}

/// A local code table: legacy code -> FHIR value (a code, or a whole Coding).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeTable {
    pub name: String,
    pub entries: HashMap<String, Json>,
    /// Used for codes not in the table (`_default:`); without it they are omitted.
    pub default: Option<Json>,
}

impl CodeTable {
    pub fn lookup(&self, code: &str) -> Option<&Json> {
        self.entries.get(code).or(self.default.as_ref())
    }

    /// The local codes whose FHIR value matches `code` (and `system`, when given and the
    /// value is a Coding): the reverse lookup that lets token searches run in SQL.
    pub fn local_codes(&self, system: Option<&str>, code: &str) -> Vec<String> {
        let mut codes: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, v)| match v {
                Json::Object(o) => {
                    o.get("code").and_then(Json::as_str) == Some(code)
                        && system.is_none_or(|s| o.get("system").and_then(Json::as_str) == Some(s))
                }
                Json::String(s) => s == code,
                other => code.parse::<Json>().is_ok_and(|c| c == **other),
            })
            .map(|(k, _)| k.clone())
            .collect();
        codes.sort();
        codes
    }
}

/// One resource mapping file, compiled.
#[derive(Debug)]
pub struct CompiledMapping {
    pub file: PathBuf,
    /// The file name without extension, for messages and metrics.
    pub name: String,
    pub resource_type: String,
    pub profile: String,
    pub query: SqlText,
    /// Where `query:` is written, for problems the database finds in it.
    pub query_pos: Pos,
    pub id: IdTemplate,
    pub order_by: Vec<OrderBy>,
    pub search: BTreeMap<String, SearchParamDef>,
    /// `_include` names (`Type:param`) and the element paths whose references they follow.
    pub includes: BTreeMap<String, Vec<String>>,
    pub scope: Scope,
    pub template: Template,
    /// The literal references of the template, checked against the set at load.
    pub references: Vec<lint::TemplateReference>,
}

/// The resource id: a literal prefix and suffix around one column. Being invertible is what
/// lets a read (`GET Type/id`) become `WHERE column = ?`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdTemplate {
    pub prefix: String,
    pub column: String,
    pub suffix: String,
    pub slot: usize,
    pub bind_as: IdType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    Integer,
    Text,
}

impl IdTemplate {
    /// The column value a resource id stands for, if the id is one of this mapping's.
    pub fn column_value(&self, id: &str) -> Option<dva_source_api::Value> {
        let inner = id.strip_prefix(self.prefix.as_str())?.strip_suffix(self.suffix.as_str())?;
        if inner.is_empty() {
            return None;
        }
        match self.bind_as {
            IdType::Integer => {
                inner.parse::<i64>().ok().filter(|i| i.to_string() == inner).map(dva_source_api::Value::Int)
            }
            IdType::Text => Some(dva_source_api::Value::Text(inner.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub column: String,
    pub descending: bool,
}

/// The columns one query's template uses, and the child queries nested in it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub columns: ScopeColumns,
    pub children: Vec<ChildQuery>,
}

/// Repeating parts from a child query: one statement per child mapping per page, joined to
/// the parent rows by `key` = `parent_key`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildQuery {
    pub name: String,
    pub query: SqlText,
    pub query_pos: Pos,
    /// Column of the child rows.
    pub key: String,
    /// Column of the parent rows.
    pub parent_key: String,
    /// Slot of `parent_key` in the parent scope.
    pub parent_key_slot: usize,
    /// The order of a parent's child rows, after the key.
    pub order_by: Vec<OrderBy>,
    pub scope: Scope,
}
