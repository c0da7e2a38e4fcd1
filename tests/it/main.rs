//! The one integration-test binary: a real server on port 0 over a generated demo database,
//! called over real HTTP.

mod admin;
mod api;
mod architecture;
mod audit;
mod backends;
mod conformance;
mod docs;
mod documents;
mod faults;
mod fidelity;
mod golden;
mod guardrails;
mod harness;
mod hostile;
mod inspect;
mod introspection;
mod isolation;
mod limits;
mod logs;
mod mapping_sets;
mod odbc_types;
mod pki;
mod proxy;
mod reload;
mod sharing;
mod statements;
mod systemd;
mod temp_postgres;
mod tls;
mod tokens;
mod validate_cli;
mod validation;
