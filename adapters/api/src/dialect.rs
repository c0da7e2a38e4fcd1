/// The SQL dialect of a source: how placeholders and paging are written.
///
/// Mapping files write named parameters (`:patient`); the connector rewrites them into the
/// dialect's positional placeholders, so request values only ever travel as binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
    Mssql,
    Oracle,
    /// ANSI SQL:2008 paging and `?` placeholders, for drivers we know nothing else about.
    Generic,
}

impl Dialect {
    /// The placeholder for the `n`-th bind (1-based).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    }

    /// A paging clause for `limit` rows after skipping `offset`, where both are binds
    /// numbered from `first_bind`. Returns the clause; the caller binds limit then offset
    /// (or offset then limit, see [`Dialect::limit_first`]).
    pub fn paging_clause(self, first_bind: usize) -> String {
        let a = self.placeholder(first_bind);
        let b = self.placeholder(first_bind + 1);
        match self {
            Dialect::Sqlite | Dialect::Postgres | Dialect::Mysql => format!(" LIMIT {a} OFFSET {b}"),
            Dialect::Mssql | Dialect::Oracle | Dialect::Generic => {
                format!(" OFFSET {a} ROWS FETCH NEXT {b} ROWS ONLY")
            }
        }
    }

    /// Whether [`Dialect::paging_clause`] takes the limit as its first bind.
    pub fn limit_first(self) -> bool {
        matches!(self, Dialect::Sqlite | Dialect::Postgres | Dialect::Mysql)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Mssql => "mssql",
            Dialect::Oracle => "oracle",
            Dialect::Generic => "generic",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_dialect() {
        assert_eq!(Dialect::Postgres.placeholder(3), "$3");
        assert_eq!(Dialect::Sqlite.placeholder(3), "?");
        assert_eq!(Dialect::Postgres.paging_clause(2), " LIMIT $2 OFFSET $3");
        assert_eq!(Dialect::Mssql.paging_clause(1), " OFFSET ? ROWS FETCH NEXT ? ROWS ONLY");
    }
}
