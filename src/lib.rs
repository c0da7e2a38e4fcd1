//! dva-connector: a MedMij DVA resource server over legacy EHR databases.
//!
//! The request path, one direction only: `http` (auth extractor) -> `runtime` snapshot ->
//! `search` (SQL with binds) -> source adapters (rows) -> `engine` (resources) -> `fhir`
//! (Bundle) -> response. See ARCHITECTURE.md for the invariants each module keeps.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod diagnostics;
pub mod engine;
pub mod fhir;
pub mod http;
pub mod inspect;
pub mod mapping;
pub mod metrics;
pub mod runtime;
pub mod search;
pub mod tls;
