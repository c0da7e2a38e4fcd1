//! OperationOutcome: the body of every error response.

use serde_json::{json, Value as Json};

/// The FHIR issue-type codes the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueType {
    Invalid,
    NotSupported,
    NotFound,
    Login,
    Forbidden,
    Security,
    Transient,
    TooCostly,
    /// An internal timeout: the database did not answer in time.
    Timeout,
    /// Content beyond a limit of the server (a denial-of-service protection).
    TooLong,
    Exception,
    Conflict,
}

impl IssueType {
    pub fn code(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::NotSupported => "not-supported",
            IssueType::NotFound => "not-found",
            IssueType::Login => "login",
            IssueType::Forbidden => "forbidden",
            IssueType::Security => "security",
            IssueType::Transient => "transient",
            IssueType::TooCostly => "too-costly",
            IssueType::Timeout => "timeout",
            IssueType::TooLong => "too-long",
            IssueType::Exception => "exception",
            IssueType::Conflict => "conflict",
        }
    }
}

/// One error issue with a human-readable text for the PGO's developers.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationOutcome {
    pub issue: IssueType,
    pub diagnostics: String,
}

impl OperationOutcome {
    pub fn new(issue: IssueType, diagnostics: impl Into<String>) -> Self {
        Self { issue, diagnostics: diagnostics.into() }
    }

    pub fn to_json(&self) -> Json {
        json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "error",
                "code": self.issue.code(),
                "diagnostics": self.diagnostics,
            }]
        })
    }
}
