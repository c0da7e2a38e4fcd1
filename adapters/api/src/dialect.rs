/// The SQL dialect of a database: how paging is written and how a session is made safe.
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

/// How a source takes SQL text: the database's dialect, and the placeholder style of the
/// client in between (libpq numbers them, ODBC always writes `?`).
///
/// Mapping files write named parameters (`:patient`); the connector rewrites them into these
/// positional placeholders, so request values only ever travel as binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SqlStyle {
    pub dialect: Dialect,
    pub numbered_placeholders: bool,
}

impl From<Dialect> for SqlStyle {
    /// The style of the database's native client.
    fn from(dialect: Dialect) -> Self {
        Self { dialect, numbered_placeholders: dialect == Dialect::Postgres }
    }
}

impl SqlStyle {
    /// The style through ODBC, whatever the database.
    pub fn odbc(dialect: Dialect) -> Self {
        Self { dialect, numbered_placeholders: false }
    }

    /// The placeholder for the `n`-th bind (1-based).
    pub fn placeholder(self, n: usize) -> String {
        if self.numbered_placeholders {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    }

    /// A paging clause for `limit` rows after skipping `offset`, where both are binds
    /// numbered from `first_bind`. Returns the clause; the caller binds limit then offset
    /// (or offset then limit, see [`Dialect::limit_first`]).
    pub fn paging_clause(self, first_bind: usize) -> String {
        let a = self.placeholder(first_bind);
        let b = self.placeholder(first_bind + 1);
        match self.dialect {
            Dialect::Sqlite | Dialect::Postgres | Dialect::Mysql => format!(" LIMIT {a} OFFSET {b}"),
            Dialect::Mssql | Dialect::Oracle | Dialect::Generic => {
                format!(" OFFSET {a} ROWS FETCH NEXT {b} ROWS ONLY")
            }
        }
    }

    /// One `ORDER BY` item with NULLs last, whatever the database's default. Where the
    /// dialect has `NULLS LAST` it is used, so an index in that order can serve the sort (and
    /// a page of a long history is read from the index, not sorted whole); elsewhere a `CASE`
    /// puts NULLs last.
    pub fn order_item(self, expression: &str, descending: bool) -> String {
        let direction = if descending { " DESC" } else { "" };
        match self.dialect {
            Dialect::Sqlite | Dialect::Postgres | Dialect::Oracle => format!("{expression}{direction} NULLS LAST"),
            Dialect::Mysql | Dialect::Mssql | Dialect::Generic => {
                format!("CASE WHEN {expression} IS NULL THEN 1 ELSE 0 END, {expression}{direction}")
            }
        }
    }

    /// Whether [`SqlStyle::paging_clause`] takes the limit as its first bind.
    pub fn limit_first(self) -> bool {
        matches!(self.dialect, Dialect::Sqlite | Dialect::Postgres | Dialect::Mysql)
    }
}

impl Dialect {
    pub const ALL: [Dialect; 6] =
        [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql, Dialect::Mssql, Dialect::Oracle, Dialect::Generic];

    /// The dialect by its configuration name (`mariadb` is an alias of `mysql`).
    pub fn from_name(name: &str) -> Option<Dialect> {
        match name {
            "mariadb" => Some(Dialect::Mysql),
            _ => Self::ALL.into_iter().find(|d| d.name() == name),
        }
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
    fn placeholders_per_client() {
        let native = SqlStyle::from(Dialect::Postgres);
        assert_eq!(native.placeholder(3), "$3");
        assert_eq!(SqlStyle::odbc(Dialect::Postgres).placeholder(3), "?");
        assert_eq!(SqlStyle::from(Dialect::Sqlite).placeholder(3), "?");
        assert_eq!(native.paging_clause(2), " LIMIT $2 OFFSET $3");
        assert_eq!(SqlStyle::odbc(Dialect::Mssql).paging_clause(1), " OFFSET ? ROWS FETCH NEXT ? ROWS ONLY");
    }

    #[test]
    fn nulls_last_in_every_dialect() {
        assert_eq!(SqlStyle::from(Dialect::Postgres).order_item("q.a", true), "q.a DESC NULLS LAST");
        assert_eq!(SqlStyle::from(Dialect::Sqlite).order_item("q.a", false), "q.a NULLS LAST");
        assert_eq!(
            SqlStyle::odbc(Dialect::Mysql).order_item("q.a", true),
            "CASE WHEN q.a IS NULL THEN 1 ELSE 0 END, q.a DESC"
        );
    }

    #[test]
    fn dialects_by_name() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::from_name(d.name()), Some(d));
        }
        assert_eq!(Dialect::from_name("mariadb"), Some(Dialect::Mysql));
        assert_eq!(Dialect::from_name("db2"), None);
    }
}
