//! Search parameters a mapping declares, and how each maps onto its query's columns.

/// Where a search parameter's values live in a mapping's rows.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchParamDef {
    /// Token parameters (`system|code`): the codings a row carries.
    Token { matches: Vec<TokenMatch> },
    /// Date parameters with prefixes, against one column of local time.
    Date { column: String, stored_as: DateStorage },
    /// Date parameters against a period: a start and an end column; a null end is still
    /// running, a null start began before anyone knows (e.g. the zib PeriodOfUse).
    Period { start: String, end: String, stored_as: DateStorage },
}

impl SearchParamDef {
    pub fn type_name(&self) -> &'static str {
        match self {
            SearchParamDef::Token { .. } => "token",
            SearchParamDef::Date { .. } | SearchParamDef::Period { .. } => "date",
        }
    }
}

/// One coding a row carries: system and code, each a literal or a column.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenMatch {
    /// `None` when the code's table yields whole Codings (the system comes from the table).
    pub system: Option<Source>,
    pub code: Source,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Literal(String),
    /// A column, optionally translated through a code table (index into the set's tables).
    Column {
        name: String,
        table: Option<usize>,
    },
}

/// How the legacy database stores a date column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateStorage {
    /// A calendar date: the row stands for the whole local day.
    Date,
    /// A local timestamp without offset.
    Timestamp,
}
