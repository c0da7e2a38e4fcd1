//! The demo-his schema (DDL only): a legacy Dutch GP system, not FHIR-shaped. Dutch names, local codes,
//! local timestamps without offset, soft deletes (`verwijderd = 'J'`).

use dva_source_api::Dialect;

/// A table and its columns as declared (`name TYPE, ...`).
pub type TableDecl = (&'static str, &'static str);

/// The GP system's own tables, in creation order.
const TABLES: &[TableDecl] = &[
    // A practice; phones, addresses and countries here and below are kept as for `patient`
    // (`telefoon_soort`, `land`, `adres_soort`).
    ("praktijk", "praktijk_id INTEGER PRIMARY KEY, naam VARCHAR(100) NOT NULL, agb_code CHAR(8), ura_nummer CHAR(8), telefoon VARCHAR(20), straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), plaats VARCHAR(60), telefoon_soort CHAR(2), land CHAR(4), adres_soort VARCHAR(4)"),
    // A staff member and the role they have in the practice: `functie` (HA huisarts, PO
    // praktijkondersteuner, AS arts), the Vektis specialism (`specialisme`,
    // COD016), the UZI number, work phone, email and work address.
    ("medewerker", "med_id INTEGER PRIMARY KEY, praktijk_id INTEGER NOT NULL, agb_code CHAR(8), uzi_nummer CHAR(9), voorletters VARCHAR(10), voornamen VARCHAR(60), voorvoegsels VARCHAR(20), achternaam VARCHAR(60) NOT NULL, functie CHAR(2), specialisme CHAR(4), telefoon VARCHAR(20), telefoon_soort CHAR(2), email VARCHAR(80), geslacht CHAR(1), straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), plaats VARCHAR(60), land CHAR(4), adres_soort VARCHAR(4), verwijderd CHAR(1) NOT NULL"),
    // Names as the Dutch civil registry (BRP) has them: the own family name (`achternaam`,
    // its prefixes `voorvoegsels`), the partner's, and which the patient goes by
    // (`naamgebruik`: E eigen, P partner, V partner then own, N own then partner); the given
    // names (`voornamen`), the call name (`roepnaam`) and the initials. `land` is the GBA country
    // code (6030 Nederland), `adres_soort` the kind of address (PHYS woonadres, HP officieel adres,
    // PST postadres, TMP tijdelijk), `telefoon_soort` MC mobiel or LL vast, `burgerlijke_staat` HL7's
    // marital status (M gehuwd, U ongehuwd, D gescheiden, W weduwe), `overleden` and `meerling` J/N.
    ("patient", "pat_id INTEGER PRIMARY KEY, bsn CHAR(9), achternaam VARCHAR(60) NOT NULL, voorvoegsels VARCHAR(20), voornamen VARCHAR(60), voorletters VARCHAR(10), roepnaam VARCHAR(40), partner_voorvoegsels VARCHAR(20), partner_achternaam VARCHAR(60), naamgebruik CHAR(1), geslacht CHAR(1), geboortedatum DATE, straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), woonplaats VARCHAR(60), land CHAR(4), adres_soort VARCHAR(4), telefoon VARCHAR(20), telefoon_soort CHAR(2), email VARCHAR(80), burgerlijke_staat CHAR(1), overleden CHAR(1), meerling CHAR(1), huisarts_id INTEGER, ingeschreven_op DATE, verwijderd CHAR(1) NOT NULL"),
    // A patient's contact person: `rol` (zib ContactPerson role, table 472: 1 eerste
    // contactpersoon, 2 tweede, ...), `relatie` (HL7 RoleCode: WIFE, HUSB, DAU, SON, FRND, ...),
    // the name, phone and address in the columns of `patient`.
    ("contactpersoon", "contactpersoon_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, rol VARCHAR(4), relatie VARCHAR(10), achternaam VARCHAR(60) NOT NULL, voorvoegsels VARCHAR(20), voornamen VARCHAR(60), voorletters VARCHAR(10), roepnaam VARCHAR(40), partner_voorvoegsels VARCHAR(20), partner_achternaam VARCHAR(60), naamgebruik CHAR(1), telefoon VARCHAR(20), telefoon_soort CHAR(2), email VARCHAR(80), straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), woonplaats VARCHAR(60), land CHAR(4), adres_soort VARCHAR(4), verwijderd CHAR(1) NOT NULL"),
    // An episode (ICPC-1 NL problem, `icpc` with its subcode such as L86.01): its title, the
    // diagnosis it stands for (`diagnose`, of `soort` D diagnose or K klacht, recorded by
    // `med_id`), status A actief / B beeindigd, and `attentie` J when the GP marked it an alert (from
    // `attentie_sinds` until `attentie_tot`).
    ("episode", "episode_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, icpc VARCHAR(6), titel VARCHAR(80), diagnose VARCHAR(80), soort CHAR(1), begindatum DATE, einddatum DATE, status CHAR(1), attentie CHAR(1), attentie_sinds DATE, attentie_tot DATE, med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    // A contact, from `datum_tijd` until `eind_tijd`; `datum_precisie` says how much of both is
    // known (D the day only, T the time too; empty: all of it). Other tables keep such a
    // `*_precisie` beside a date the same way (J a year, M a month).
    ("contact", "contact_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, episode_id INTEGER, med_id INTEGER, soort CHAR(2), datum_tijd TIMESTAMP, datum_precisie CHAR(1), eind_tijd TIMESTAMP, verwijderd CHAR(1) NOT NULL"),
    // A SOEP line; an E (evaluation) line has the ICPC code of its diagnosis.
    ("journaalregel", "regel_id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, pat_id INTEGER NOT NULL, episode_id INTEGER, soep CHAR(1) NOT NULL, tekst VARCHAR(500), icpc VARCHAR(6), icpc_omschrijving VARCHAR(80), verwijderd CHAR(1) NOT NULL"),
    // A diagnostic test (NHG table 45): `soort` L laboratorium, V vitale functie (measured in
    // the practice), B beeldvorming and other diagnostics. `eenheid` is the UCUM unit,
    // `eenheid_tekst` how the lab writes it (mmHg for mm[Hg]); `loinc_omschrijving` the LOINC
    // code's own name beside the NHG one.
    ("bepaling", "nhg_code VARCHAR(6) PRIMARY KEY, omschrijving VARCHAR(80) NOT NULL, eenheid VARCHAR(20), eenheid_tekst VARCHAR(20), loinc VARCHAR(10), loinc_omschrijving VARCHAR(120), ondergrens VARCHAR(10), bovengrens VARCHAR(10), materiaal CHAR(3), soort CHAR(1) NOT NULL"),
    // A result: `uitslag` as text (a number with a decimal comma, or words), a coded result's
    // NHG table 45 result code (`uitslag_code`), the lab's flag (`interpretatie`, HL7 table
    // 0078: H, L, N, ...), where it was measured (`lokatie`, SNOMED CT, and `lokatie_tekst`).
    ("labuitslag", "uitslag_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, contact_id INTEGER, episode_id INTEGER, med_id INTEGER, nhg_code VARCHAR(6) NOT NULL, uitslag VARCHAR(200), uitslag_code VARCHAR(10), interpretatie VARCHAR(4), lokatie VARCHAR(18), lokatie_tekst VARCHAR(60), afname TIMESTAMP, afname_precisie CHAR(1), status CHAR(1), verwijderd CHAR(1) NOT NULL"),
    ("middel", "hpk_code INTEGER PRIMARY KEY, prk_code INTEGER, gpk_code INTEGER, naam VARCHAR(80) NOT NULL, vorm VARCHAR(20)"),
    // A prescription's dosage as the GP system keeps it: `dosering` the text the patient reads;
    // `frequentie` times per `periode` `periode_eenheid` (U uur, D dag, W week, M maand, J jaar);
    // `aantal` (decimal comma) of `eenheid` (G-Standaard basiseenheid `eenheid_code`, e.g. 245
    // STUK) a time; `zo_nodig` J/N; `toedieningsweg` G-Standaard table 7 (9 oraal); an additional
    // instruction (NHG table 25 `instructie_code`, its text `instructie`); the course
    // `gebruiksduur` in `gebruiksduur_eenheid` (D, W, M).
    ("voorschrift", "voorschrift_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, contact_id INTEGER, episode_id INTEGER, med_id INTEGER, hpk_code INTEGER NOT NULL, dosering VARCHAR(120), frequentie INTEGER, aantal VARCHAR(10), eenheid_code INTEGER, eenheid VARCHAR(20), periode INTEGER, periode_eenheid CHAR(1), zo_nodig CHAR(1), toedieningsweg VARCHAR(4), instructie_code VARCHAR(10), instructie VARCHAR(100), gebruiksduur INTEGER, gebruiksduur_eenheid CHAR(1), startdatum DATE, einddatum DATE, voorschrijfdatum TIMESTAMP, voorschrijfdatum_precisie CHAR(1), status CHAR(1), verwijderd CHAR(1) NOT NULL"),
    // Business identifiers the practice received with a record (from the lab, a hospital, an
    // earlier system), by table (`tabel`, or what the row is: `monster` for a result's
    // specimen) and key: the PGO recognises a record by them. A record without one is known by
    // its own key.
    ("kenmerk", "tabel VARCHAR(20) NOT NULL, sleutel INTEGER NOT NULL, systeem VARCHAR(120) NOT NULL, waarde VARCHAR(64) NOT NULL, PRIMARY KEY (tabel, sleutel)"),
    // An allergy: the allergen's code (`thesaurus_code`) in `codestelsel` (G G-Standaard
    // stofnaam, H G-Standaard HPK, S SNOMED CT), categorie M/V/O/B, status A/I/H, ernst 1-3.
    ("allergie", "allergie_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, thesaurus_code INTEGER, codestelsel CHAR(1), omschrijving VARCHAR(80), categorie CHAR(1), status CHAR(1), ernst CHAR(1), begindatum DATE, laatste_reactie DATE, vastgelegd_op TIMESTAMP, opmerking VARCHAR(200), med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    // A reaction: what it was (SNOMED), to what (stof_*), how it showed (toelichting), when,
    // how bad (ernst 1 licht, 2 matig, 3 ernstig).
    ("allergie_reactie", "reactie_id INTEGER PRIMARY KEY, allergie_id INTEGER NOT NULL, snomed_code VARCHAR(18), omschrijving VARCHAR(80), stof_code INTEGER, stof_codestelsel CHAR(1), stof_omschrijving VARCHAR(80), toelichting VARCHAR(200), begin_tijd TIMESTAMP, ernst CHAR(1)"),
];

/// The hospital-summary (BgZ) tables, filled by `parts::bgz`.
const BGZ_TABLES: &[TableDecl] = &[
    // The address book: hospital departments (ZH), pharmacies (AP), health insurers (ZV), GP
    // practices (HA) and others (OV).
    ("instelling", "instelling_id INTEGER PRIMARY KEY, naam VARCHAR(100) NOT NULL, soort CHAR(2) NOT NULL, agb_code CHAR(8), ura_nummer CHAR(8), uzovi CHAR(4), specialisme CHAR(4), telefoon VARCHAR(20), straat VARCHAR(60), huisnummer VARCHAR(10), postcode CHAR(6), plaats VARCHAR(60), telefoon_soort CHAR(2), land CHAR(4), adres_soort VARCHAR(4), verwijderd CHAR(1) NOT NULL"),
    // Health insurance (B basis, A aanvullend) or, without an insurer, costs the patient pays
    // himself (Z zelfbetaler, with his bank account).
    ("verzekering", "verzekering_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, instelling_id INTEGER, soort CHAR(2) NOT NULL, polisnummer VARCHAR(20), begindatum DATE, einddatum DATE, bank VARCHAR(40), iban VARCHAR(34), bic VARCHAR(11), verwijderd CHAR(1) NOT NULL"),
    // The problem list, coded with SNOMED CT (codestelsel S) or ICD-10 (I): soort D diagnose,
    // K klacht, S symptoom;
    // status A actueel, I inactief, H hersteld; zekerheid B bevestigd, W waarschijnlijk, O onbekend.
    ("probleem", "probleem_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, code VARCHAR(18) NOT NULL, codestelsel CHAR(1) NOT NULL, omschrijving VARCHAR(120) NOT NULL, soort CHAR(1), status CHAR(1) NOT NULL, zekerheid CHAR(1), lokatie VARCHAR(18), lateraliteit CHAR(1), begindatum DATE, einddatum DATE, begin_precisie CHAR(1), eind_precisie CHAR(1), toelichting VARCHAR(200), med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    // Treatment directives (soort B: may this treatment be given?) and advance directives
    // (soort W: a written statement such as a do-not-resuscitate declaration).
    ("wilsverklaring", "wilsverklaring_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, soort CHAR(1) NOT NULL, behandeling VARCHAR(4), toegestaan VARCHAR(8), beperking VARCHAR(200), verklaring VARCHAR(6), probleem_id INTEGER, datum DATE, einddatum DATE, geverifieerd CHAR(1), geverifieerd_bij CHAR(1), verificatiedatum DATE, toelichting VARCHAR(200), verwijderd CHAR(1) NOT NULL"),
    // Measurements and findings, one local kind per row (soort): RR blood pressure, GEW weight,
    // LEN height, TAB tobacco, ALC alcohol, DRG drugs, WON living situation, FUN functional or
    // mental status. What `waarde`, `waarde2`, `code` and `code2` hold depends on the kind.
    ("meting", "meting_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, soort VARCHAR(4) NOT NULL, datum_tijd TIMESTAMP, waarde VARCHAR(40), waarde2 VARCHAR(20), code VARCHAR(20), code2 VARCHAR(20), lokatie VARCHAR(18), methode VARCHAR(18), begindatum DATE, einddatum DATE, begin_precisie CHAR(1), eind_precisie CHAR(1), opmerking VARCHAR(200), med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    ("voedingsadvies", "advies_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, dieet VARCHAR(80) NOT NULL, consistentie VARCHAR(40), toelichting VARCHAR(200), status CHAR(1) NOT NULL, datum DATE, einddatum DATE, med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    // Alerts: soort W waarschuwing, A aandoening; status A actief, I inactief.
    ("waarschuwing", "waarschuwing_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, soort CHAR(1) NOT NULL, snomed_code VARCHAR(18), omschrijving VARCHAR(120) NOT NULL, status CHAR(1) NOT NULL, begindatum DATE, einddatum DATE, med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    // What the patient says he takes (bron P patient, H huisarts); status A actueel, G gestopt.
    ("medicatiegebruik", "gebruik_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, hpk_code INTEGER NOT NULL, status CHAR(1) NOT NULL, gebruikt CHAR(1), volgens_afspraak CHAR(1), begindatum DATE, einddatum DATE, dosering VARCHAR(120), frequentie INTEGER, aantal VARCHAR(10), toedieningsweg VARCHAR(4), bron CHAR(1), voorschrijver_id INTEGER, vastgelegd_op TIMESTAMP, toelichting VARCHAR(200), verwijderd CHAR(1) NOT NULL"),
    // The pharmacy's administration agreements; status A actief, G afgerond, S gestopt.
    ("toedieningsafspraak", "toediening_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, hpk_code INTEGER NOT NULL, instelling_id INTEGER, afspraakdatum TIMESTAMP, begindatum DATE, duur_dagen INTEGER, dosering VARCHAR(120), frequentie INTEGER, aantal VARCHAR(10), zo_nodig CHAR(1), toedieningsweg VARCHAR(4), status CHAR(1) NOT NULL, verwijderd CHAR(1) NOT NULL"),
    // Medical devices, with the product: status A in gebruik, G niet meer in gebruik,
    // V aangevraagd, X aanvraag ingetrokken.
    ("hulpmiddel", "hulpmiddel_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, snomed_code VARCHAR(18) NOT NULL, omschrijving VARCHAR(80) NOT NULL, serienummer VARCHAR(30), udi VARCHAR(60), udi_hrf VARCHAR(80), vervaldatum DATE, status CHAR(1) NOT NULL, begindatum DATE, einddatum DATE, begin_precisie CHAR(1), lokatie VARCHAR(18), lateraliteit CHAR(1), probleem_id INTEGER, instelling_id INTEGER, med_id INTEGER, toelichting VARCHAR(200), verwijderd CHAR(1) NOT NULL"),
    // Vaccinations given (status G) and advised (status A, `datum` is when it is due);
    // `zelf_gegeven` J when the practice gave it, N when it was reported (by the patient, the GGD).
    ("vaccinatie", "vaccinatie_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, atc_code VARCHAR(8) NOT NULL, omschrijving VARCHAR(80) NOT NULL, status CHAR(1) NOT NULL, datum DATE, dosis INTEGER, med_id INTEGER, zelf_gegeven CHAR(1), toelichting VARCHAR(200), verwijderd CHAR(1) NOT NULL"),
    // Procedures: soort O operatie, D diagnostisch, B behandeling; status U uitgevoerd,
    // P gepland, X geannuleerd.
    ("verrichting", "verrichting_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, snomed_code VARCHAR(18) NOT NULL, omschrijving VARCHAR(120) NOT NULL, soort CHAR(1), status CHAR(1) NOT NULL, begindatum DATE, einddatum DATE, lokatie VARCHAR(18), lateraliteit CHAR(1), probleem_id INTEGER, hulpmiddel_id INTEGER, instelling_id INTEGER, med_id INTEGER, verwijderd CHAR(1) NOT NULL"),
    // Hospital stays as reported by the hospital: soort K klinische opname, D dagopname,
    // S spoedeisende hulp.
    ("opname", "opname_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, instelling_id INTEGER, soort CHAR(1) NOT NULL, opname TIMESTAMP, ontslag TIMESTAMP, probleem_id INTEGER, reden VARCHAR(200), verwijderd CHAR(1) NOT NULL"),
    // Appointments at the practice (med_id) or at a hospital department (instelling_id):
    // status B geboekt, V voorgesteld, W wacht op bevestiging, G geweest, A afgezegd, N niet verschenen.
    ("afspraak", "afspraak_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, instelling_id INTEGER, med_id INTEGER, omschrijving VARCHAR(120), begin_tijd TIMESTAMP, eind_tijd TIMESTAMP, status CHAR(1) NOT NULL, verwijderd CHAR(1) NOT NULL"),
];

const BGZ_INDEXES: &[TableDecl] = &[
    ("verzekering", "pat_id"),
    ("probleem", "pat_id"),
    ("wilsverklaring", "pat_id"),
    ("meting", "pat_id"),
    ("voedingsadvies", "pat_id"),
    ("waarschuwing", "pat_id"),
    ("medicatiegebruik", "pat_id"),
    ("toedieningsafspraak", "pat_id"),
    ("hulpmiddel", "pat_id"),
    ("vaccinatie", "pat_id"),
    ("verrichting", "pat_id"),
    ("opname", "pat_id"),
    ("afspraak", "pat_id"),
];

/// Documents, filled by `parts::documents`.
/// `inhoud` is declared `BLOB`; `schema::ddl` writes the binary type of each database.
/// `taal` is the document's language (nl, en), `vertrouwelijkheid` HL7's confidentiality (N
/// normal, R restricted, V very restricted), `uniek_systeem`/`uniek_kenmerk` the id the
/// document was created with (kept wherever it is copied to).
const DOCUMENT_TABLES: &[TableDecl] = &[(
    "document",
    "doc_id INTEGER PRIMARY KEY, pat_id INTEGER NOT NULL, soort VARCHAR(10) NOT NULL, titel VARCHAR(200), aangemaakt_op TIMESTAMP, auteur_id INTEGER, status CHAR(1) NOT NULL, bestandsnaam VARCHAR(120), mime_type VARCHAR(60), grootte INTEGER, inhoud BLOB, omschrijving VARCHAR(200), taal VARCHAR(5), vertrouwelijkheid CHAR(1), uniek_systeem VARCHAR(120), uniek_kenmerk VARCHAR(100), verwijderd CHAR(1) NOT NULL",
)];
const DOCUMENT_INDEXES: &[TableDecl] = &[("document", "pat_id")];

/// Indexes on every column the mappings filter or join on: one patient's query must stay a
/// few index lookups in a 100,000-patient database.
const INDEXES: &[TableDecl] = &[
    ("patient", "bsn"),
    ("contactpersoon", "pat_id"),
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
/// of it (100,000 lab results: 89 ms to 0.7 ms, docs/benchmarks.md). Other databases here cannot
/// declare NULLS LAST in an index.
const PATIENT_ORDER_INDEXES: &[(&str, &str)] = &[
    ("labuitslag", "pat_id, afname DESC NULLS LAST, uitslag_id"),
    ("contact", "pat_id, datum_tijd DESC NULLS LAST, contact_id"),
];

/// Every table, in creation order.
pub fn tables() -> impl Iterator<Item = TableDecl> {
    TABLES.iter().chain(BGZ_TABLES).chain(DOCUMENT_TABLES).copied()
}

fn indexes() -> impl Iterator<Item = TableDecl> {
    INDEXES.iter().chain(BGZ_INDEXES).chain(DOCUMENT_INDEXES).copied()
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
                // A table constraint (`PRIMARY KEY (a, b)`) is not a column.
                if let Some(name) = declaration[start..i].split_whitespace().next().filter(|n| *n != "PRIMARY") {
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
