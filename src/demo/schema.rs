//! The demo-his schema: a legacy Dutch GP system, not FHIR-shaped. Dutch names, local codes,
//! local timestamps without offset, soft deletes (`verwijderd = 'J'`).

use dva_source_api::Dialect;

/// A table and its columns as declared (`name TYPE, ...`).
pub type TableDecl = (&'static str, &'static str);

/// The GP system's own tables, in creation order. BgZ and document tables live beside the
/// parts of the generator that fill them (`bgz.rs`, `documents.rs`).
const TABLES: &[TableDecl] = &[
    ("praktijk", "praktijk_id INTEGER PRIMARY KEY, naam VARCHAR(100) NOT NULL, agb_code CHAR(8), ura_nummer CHAR(8), telefoon VARCHAR(20), straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), plaats VARCHAR(60)"),
    ("medewerker", "med_id INTEGER PRIMARY KEY, praktijk_id INTEGER NOT NULL, agb_code CHAR(8), voorletters VARCHAR(10), voorvoegsels VARCHAR(20), achternaam VARCHAR(60) NOT NULL, functie CHAR(2) NOT NULL, geslacht CHAR(1), verwijderd CHAR(1) NOT NULL"),
    ("patient", "pat_id INTEGER PRIMARY KEY, bsn CHAR(9), achternaam VARCHAR(60) NOT NULL, voorvoegsels VARCHAR(20), voornamen VARCHAR(60), voorletters VARCHAR(10), geslacht CHAR(1), geboortedatum DATE, straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), woonplaats VARCHAR(60), telefoon VARCHAR(20), email VARCHAR(80), huisarts_id INTEGER, ingeschreven_op DATE, verwijderd CHAR(1) NOT NULL"),
    ("episode", "episode_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, icpc CHAR(3), titel VARCHAR(80), begindatum DATE, einddatum DATE, status CHAR(1), verwijderd CHAR(1) NOT NULL"),
    ("contact", "contact_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, episode_id INTEGER, med_id INTEGER, soort CHAR(2), datum_tijd TIMESTAMP, duur_min INTEGER, verwijderd CHAR(1) NOT NULL"),
    ("journaalregel", "regel_id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, pat_id INTEGER NOT NULL, episode_id INTEGER, soep CHAR(1) NOT NULL, tekst VARCHAR(500), verwijderd CHAR(1) NOT NULL"),
    ("bepaling", "nhg_code VARCHAR(6) PRIMARY KEY, omschrijving VARCHAR(80) NOT NULL, eenheid VARCHAR(20), loinc VARCHAR(10), ondergrens VARCHAR(10), bovengrens VARCHAR(10), materiaal CHAR(3)"),
    ("labuitslag", "uitslag_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, contact_id INTEGER, episode_id INTEGER, med_id INTEGER, nhg_code VARCHAR(6) NOT NULL, uitslag VARCHAR(20), afname TIMESTAMP, status CHAR(1), verwijderd CHAR(1) NOT NULL"),
    ("middel", "hpk_code INTEGER PRIMARY KEY, prk_code INTEGER, naam VARCHAR(80) NOT NULL, vorm VARCHAR(20)"),
    ("voorschrift", "voorschrift_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, contact_id INTEGER, episode_id INTEGER, med_id INTEGER, hpk_code INTEGER NOT NULL, dosering VARCHAR(120), frequentie INTEGER, aantal VARCHAR(10), startdatum DATE, einddatum DATE, voorschrijfdatum TIMESTAMP, status CHAR(1), verwijderd CHAR(1) NOT NULL"),
    ("allergie", "allergie_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, thesaurus_code INTEGER, omschrijving VARCHAR(80), categorie CHAR(1), status CHAR(1), ernst CHAR(1), vastgelegd_op TIMESTAMP, opmerking VARCHAR(200), med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    ("allergie_reactie", "reactie_id INTEGER PRIMARY KEY, allergie_id INTEGER NOT NULL, snomed_code VARCHAR(18), omschrijving VARCHAR(80)"),
];

/// Indexes on every column the mappings filter or join on: one patient's query must stay a
/// few index lookups in a 100,000-patient database.
const INDEXES: &[TableDecl] = &[
    ("patient", "bsn"),
    ("episode", "pat_id"),
    ("contact", "pat_id"),
    // The episodes' first and last contact (episodeofcare.yaml): without it, every episode
    // scans all contacts (found by the load benchmark: 300 ms per statement at 10,000 patients).
    ("contact", "episode_id"),
    ("journaalregel", "pat_id"),
    ("labuitslag", "pat_id"),
    ("voorschrift", "pat_id"),
    ("allergie", "pat_id"),
    ("allergie_reactie", "allergie_id"),
];

/// One patient's rows in the order their mapping pages them (`order_by`, NULLs last, then
/// the id): PostgreSQL reads a page of a long history from the index instead of sorting all
/// of it (100,000 lab results: 89 ms to 0.7 ms, BENCHMARKS.md). Other databases here cannot
/// declare NULLS LAST in an index.
const PATIENT_ORDER_INDEXES: &[(&str, &str)] = &[
    ("labuitslag", "pat_id, afname DESC NULLS LAST, uitslag_id"),
    ("contact", "pat_id, datum_tijd DESC NULLS LAST, contact_id"),
];

/// Every table, in creation order.
pub fn tables() -> impl Iterator<Item = TableDecl> {
    TABLES.iter().chain(super::bgz::TABLES).chain(super::documents::TABLES).copied()
}

fn indexes() -> impl Iterator<Item = TableDecl> {
    INDEXES.iter().chain(super::bgz::INDEXES).chain(super::documents::INDEXES).copied()
}

/// The column names of a declaration: the first word of each top-level comma-separated part.
pub fn column_names(declaration: &'static str) -> Vec<&'static str> {
    let mut names = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in declaration.char_indices().chain([(declaration.len(), ',')]) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                if let Some(name) = declaration[start..i].split_whitespace().next() {
                    names.push(name);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    names
}

/// Statements that refresh the planner's statistics after loading.
pub fn analyze(dialect: Dialect) -> String {
    match dialect {
        Dialect::Mysql => format!("ANALYZE TABLE {};", tables().map(|(t, _)| t).collect::<Vec<_>>().join(", ")),
        _ => "ANALYZE;".into(),
    }
}

/// Statements that remove the demo tables, for loading again.
pub fn drop_tables() -> String {
    let names: Vec<_> = tables().map(|(t, _)| t).collect();
    names.iter().rev().map(|t| format!("DROP TABLE IF EXISTS {t};\n")).collect()
}

pub fn table_names() -> impl Iterator<Item = &'static str> {
    tables().map(|(t, _)| t)
}

/// CREATE TABLE and CREATE INDEX statements for `dialect`.
pub fn ddl(dialect: Dialect) -> String {
    let mut out = String::new();
    for (table, columns) in tables() {
        let (columns, options) = match dialect {
            // BIGINT keeps 64-bit keys, as legacy systems often have. PostgreSQL has no BLOB.
            Dialect::Postgres => {
                (columns.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY").replace(" BLOB", " BYTEA"), "")
            }
            // MySQL's TIMESTAMP is converted to the session's time zone; DATETIME is local time.
            Dialect::Mysql => (
                // MySQL's BLOB holds at most 64 KB; scanned documents are larger.
                columns
                    .replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
                    .replace("TIMESTAMP", "DATETIME")
                    .replace(" BLOB", " LONGBLOB"),
                " DEFAULT CHARSET=utf8mb4",
            ),
            _ => (columns.to_string(), ""),
        };
        out.push_str(&format!("CREATE TABLE {table} ({columns}){options};\n"));
    }
    for (table, column) in indexes() {
        out.push_str(&format!("CREATE INDEX ix_{table}_{column} ON {table} ({column});\n"));
    }
    if dialect == Dialect::Postgres {
        for (table, columns) in PATIENT_ORDER_INDEXES {
            out.push_str(&format!("CREATE INDEX ix_{table}_patient_order ON {table} ({columns});\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_skip_type_arguments() {
        assert_eq!(column_names("a INTEGER PRIMARY KEY, b DECIMAL(10,2), c VARCHAR(5) NOT NULL"), ["a", "b", "c"]);
    }
}
