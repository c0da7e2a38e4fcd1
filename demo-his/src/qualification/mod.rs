//! The Nictiz qualification patients in demo-his: reads the fixtures of the public
//! qualification scripts (a nictiz-testscripts folder, at run time; nothing is copied into
//! this project) and writes them as legacy rows, so that the connector, through the same
//! mapping files as for generated data, answers the scripts' requests with what they assert.
//!
//! Each data service has its own module turning its fixtures into rows; patients,
//! practitioners and organizations of every service are loaded here first.

mod bgz;
pub mod fixture;
mod gp;
mod names;
mod pdfa;
mod shared;

use crate::schema;
use crate::tables::Summary;
use crate::tables::{blank_null, opt, yes_no, Tables};
use crate::writer::DemoWriter;
use anyhow::Context;
use chrono::NaiveDate;
use dva_source_api::Value;
use fixture::Fixture;
use names::Name;
use std::collections::HashMap;
use std::path::Path;

/// Fixture folders per data service, below the nictiz-testscripts folder.
const GP_DIRS: &[&str] = &[
    "src/GenPractData-2-0/Cert/_reference/resources-generic",
    "src/GenPractData-2-0/Cert/_reference/resources-query-send",
];
const BGZ_DIRS: &[&str] = &["src/BgZ-3-0/Cert/_reference/resources"];
const PDFA_DIRS: &[&str] = &["src/PDFA-3-0/Cert/_reference/resources"];
/// The data services with qualification fixtures (named as their mapping sets), and the
/// folders of their fixtures.
pub const SERVICES: &[(&str, &[&str])] = &[("gp-data", GP_DIRS), ("bgz", BGZ_DIRS), ("pdfa", PDFA_DIRS)];
pub const TOKEN_FILE: &str = "Configuration/QualificationTokens.json";

/// The fixtures of one data service.
pub struct Fixtures {
    pub all: Vec<Fixture>,
}

impl Fixtures {
    fn read(scripts: &Path, dirs: &[&str], anchor: NaiveDate) -> anyhow::Result<Self> {
        let dirs: Vec<_> = dirs.iter().map(|d| scripts.join(d)).collect();
        let dirs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
        Ok(Fixtures { all: fixture::read_dirs(&dirs, anchor)? })
    }

    pub fn of_type<'a>(&'a self, resource_type: &'a str) -> impl Iterator<Item = &'a Fixture> + 'a {
        self.all.iter().filter(move |f| f.resource_type == resource_type)
    }

    /// The fixture a reference (`Type/id`) points to.
    pub fn get(&self, reference: &str) -> Option<&Fixture> {
        self.all.iter().find(|f| f.literal_reference() == reference)
    }
}

/// Legacy keys given to fixtures, by `Type/id`, and the rows of shared tables written so far.
#[derive(Default)]
pub struct Keys {
    by_reference: HashMap<String, i64>,
    rows: std::collections::HashSet<(&'static str, String)>,
}

impl Keys {
    pub fn insert(&mut self, fixture: &Fixture, key: i64) {
        self.by_reference.insert(fixture.literal_reference(), key);
    }

    /// True the first time a row with this primary key is about to be written to `table`:
    /// services share tables like `middel` and `bepaling`, and their fixtures may share codes.
    pub fn first_row(&mut self, table: &'static str, key: &str) -> bool {
        self.rows.insert((table, key.to_owned()))
    }

    /// The key of the referenced fixture, if it was loaded.
    pub fn get(&self, reference: Option<&str>) -> Option<i64> {
        reference.and_then(|r| self.by_reference.get(r).copied())
    }

    /// The key as a column value: NULL when the reference is absent or not loaded.
    pub fn value(&self, reference: Option<&str>) -> Value {
        opt(self.get(reference).map(Value::Int))
    }
}

/// A test token of QualificationTokens.json.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct QualificationToken {
    /// Without the `Bearer ` prefix.
    #[serde(rename = "accessToken", deserialize_with = "without_bearer")]
    pub token: String,
    /// Some test tokens have none: they stand for no patient here.
    #[serde(default)]
    pub bsn: Option<String>,
    #[serde(rename = "resourceId")]
    pub resource_id: String,
}

fn without_bearer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s: String = serde::Deserialize::deserialize(d)?;
    Ok(s.strip_prefix("Bearer ").unwrap_or(&s).to_owned())
}

/// The qualification tokens that stand for a patient (have a valid BSN), in file order.
pub fn tokens(scripts: &Path) -> anyhow::Result<Vec<QualificationToken>> {
    let path = scripts.join(TOKEN_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let all: Vec<QualificationToken> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a list of test tokens", path.display()))?;
    // A few entries carry a number that fails the BSN eleven test (no patient can have it), and
    // a few tokens are empty or appear twice (for scripts of other services): the first counts.
    let mut seen = std::collections::HashSet::new();
    Ok(all
        .into_iter()
        .filter(|t| t.bsn.as_deref().is_some_and(crate::bsn::passes_eleven_test))
        .filter(|t| !t.token.trim().is_empty() && seen.insert(t.token.clone()))
        .collect())
}

/// Creates the schema and writes the qualification patients of GP data, BgZ and PDF/A into it.
/// `anchor` is "today" for the fixtures' relative dates.
pub fn load(writer: &mut dyn DemoWriter, scripts: &Path, anchor: NaiveDate) -> anyhow::Result<Summary> {
    let bsn_by_patient: HashMap<String, String> =
        tokens(scripts)?.into_iter().filter_map(|t| Some((format!("Patient/{}", t.resource_id), t.bsn?))).collect();
    writer.execute_batch(&schema::ddl(writer.dialect()))?;
    let mut t = Tables::new();
    let mut keys = Keys::default();
    for dirs in [GP_DIRS, BGZ_DIRS, PDFA_DIRS] {
        let fixtures = Fixtures::read(scripts, dirs, anchor)?;
        people(&mut t, &fixtures, &mut keys, &bsn_by_patient);
        if dirs == GP_DIRS {
            gp::load(&mut t, &fixtures, &mut keys)?;
        } else if dirs == BGZ_DIRS {
            bgz::load(&mut t, &fixtures, &mut keys)?;
        } else {
            pdfa::load(&mut t, &fixtures, &mut keys)?;
        }
    }
    writer.in_transaction(&mut |w| t.flush(w))?;
    writer.execute_batch(&schema::analyze(writer.dialect()))?;
    Ok(Summary { rows: t.written() })
}

/// Organizations, practitioners and patients of one service, into praktijk, medewerker and
/// patient.
fn people(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys, bsn_by_patient: &HashMap<String, String>) {
    for org in fixtures.of_type("Organization") {
        let key = t.next_id("praktijk");
        keys.insert(org, key);
        // An identifier beside the AGB code and URA number, which have columns of their own.
        let own = org.each("identifier").into_iter().find(
            |i| !matches!(i.get("system"), Some(s) if s == shared::AGB || s == shared::URA || s.ends_with("/uzovi")),
        );
        if let Some((system, value)) = own.and_then(|i| Some((i.get("system")?, i.get("value")?))) {
            t.add("kenmerk", vec!["praktijk".into(), Value::Int(key), system.into(), value.into()]);
        }
        let address = org.first("address");
        t.add(
            "praktijk",
            vec![
                Value::Int(key),
                org.get("name").unwrap_or("Zorgaanbieder").into(),
                opt(identifier(org, shared::AGB).map(Value::from)),
                opt(identifier(org, shared::URA).map(Value::from)),
                opt(telecom(org, "phone").map(Value::from)),
                opt(address.and_then(street).map(Value::from)),
                opt(address.and_then(house_number).map(Value::from)),
                opt(address.and_then(|a| a.get("postalCode")).map(Value::from)),
                opt(address.and_then(|a| a.get("city")).map(Value::from)),
                opt(recorded_phone_kind(org).map(Value::from)),
                opt(address.and_then(country).map(Value::from)),
                opt(address.and_then(address_kind).map(Value::from)),
            ],
        );
    }
    let roles: Vec<&Fixture> = fixtures.of_type("PractitionerRole").collect();
    for practitioner in fixtures.of_type("Practitioner") {
        let key = t.next_id("medewerker");
        keys.insert(practitioner, key);
        // An identifier beside the AGB code and UZI number, which have columns of their own.
        if practitioner.first("identifier").and_then(|i| i.get("system")).is_some_and(|s| s != shared::AGB && s != UZI)
        {
            identify(t, "medewerker", key, practitioner);
        }
        let role =
            roles.iter().find(|r| r.reference("practitioner") == Some(practitioner.literal_reference().as_str()));
        let practice = keys.get(role.and_then(|r| r.reference("organization"))).unwrap_or(1);
        if let Some(role) = role {
            // The role is a row's role, not a row: its identifier is kept for the staff member.
            keys.insert(role, key);
            identify(t, "rol", key, role);
        }
        let name = practitioner.first("name").map(Name::of).unwrap_or_default();
        let mut row = vec![
            Value::Int(key),
            Value::Int(practice),
            opt(identifier(practitioner, shared::AGB).map(Value::from)),
            opt(identifier(practitioner, UZI).map(Value::from)),
            names::column(&name.initials),
            names::column(&name.given),
            names::column(&name.own_prefix),
            name.own.as_deref().unwrap_or("Onbekend").into(),
            // The role as recorded: a UZI role code the table knows, a Vektis specialism.
            opt(role.and_then(|r| r.code_in("specialty", UZI_ROLE)).and_then(local_function).map(Value::from)),
            opt(role.and_then(|r| r.code_in("specialty", VEKTIS)).map(Value::from)),
            opt(telecom(practitioner, "phone").or_else(|| role.and_then(|r| telecom(r, "phone"))).map(Value::from)),
            opt(recorded_phone_kind(practitioner)
                .or_else(|| role.and_then(|r| recorded_phone_kind(r)))
                .map(Value::from)),
            opt(telecom(practitioner, "email").or_else(|| role.and_then(|r| telecom(r, "email"))).map(Value::from)),
            opt(gender(practitioner).map(Value::from)),
        ];
        row.extend(address_columns(practitioner.first("address")));
        row.push(yes_no(false));
        t.add("medewerker", row);
    }
    for patient in fixtures.of_type("Patient") {
        let key = t.next_id("patient");
        keys.insert(patient, key);
        let name = patient.first("name").map(Name::of).unwrap_or_default();
        let address = patient.first("address");
        let gp = patient.each("generalPractitioner").into_iter().find_map(|g| keys.get(g.get("reference")));
        let mut row = vec![
            Value::Int(key),
            opt(bsn_by_patient.get(&patient.literal_reference()).map(|b| Value::from(b.as_str()))),
            name.own.as_deref().unwrap_or("Onbekend").into(),
            names::column(&name.own_prefix),
            names::column(&name.given),
            names::column(&name.initials),
            names::column(&name.call),
            names::column(&name.partner_prefix),
            names::column(&name.partner),
            opt(name.usage.map(Value::from)),
            opt(gender(patient).map(Value::from)),
            opt(patient.date("birthDate").map(Value::Date)),
        ];
        row.extend(address_columns(address));
        row.extend([
            opt(telecom(patient, "phone").map(Value::from)),
            opt(phone_kind(patient).map(Value::from)),
            opt(telecom(patient, "email").map(Value::from)),
            opt(patient.code_in("maritalStatus", "http://hl7.org/fhir/v3/MaritalStatus").map(Value::from)),
            opt(patient.get("deceasedBoolean").map(|b| yes_no(b == "true"))),
            opt(patient.get("multipleBirthBoolean").map(|b| yes_no(b == "true"))),
            opt(gp.map(Value::Int)),
            Value::Null,
            yes_no(false),
        ]);
        t.add("patient", row);
        for contact in patient.each("contact") {
            contact_person(t, key, contact);
        }
    }
}

/// A patient's contact person (Patient.contact: zib ContactPerson) as a `contactpersoon` row.
fn contact_person(t: &mut Tables, patient: i64, contact: &fixture::Element) {
    let name = contact.first("name").map(Name::of).unwrap_or_default();
    let relationships = contact.each("relationship");
    let role = relationships.iter().find_map(|r| r.code_in("", CONTACT_ROLE));
    let relation = relationships.iter().find_map(|r| r.code_in("", ROLE_CODE));
    let key = t.next_id("contactpersoon");
    let mut row = vec![
        Value::Int(key),
        Value::Int(patient),
        opt(role.map(Value::from)),
        opt(relation.map(Value::from)),
        name.own.as_deref().unwrap_or("Onbekend").into(),
        names::column(&name.own_prefix),
        names::column(&name.given),
        names::column(&name.initials),
        names::column(&name.call),
        names::column(&name.partner_prefix),
        names::column(&name.partner),
        opt(name.usage.map(Value::from)),
        opt(telecom(contact, "phone").map(Value::from)),
        opt(recorded_phone_kind(contact).map(Value::from)),
        opt(telecom(contact, "email").map(Value::from)),
    ];
    row.extend(address_columns(contact.first("address")));
    row.push(yes_no(false));
    t.add("contactpersoon", row);
}

/// An address as the legacy tables keep it: straat, huisnummer, postcode, plaats, land (GBA
/// code), adres_soort.
fn address_columns(address: Option<&fixture::Element>) -> [Value; 6] {
    [
        opt(address.and_then(street).map(Value::from)),
        opt(address.and_then(house_number).map(Value::from)),
        opt(address.and_then(|a| a.get("postalCode")).map(Value::from)),
        opt(address.and_then(|a| a.get("city")).map(Value::from)),
        opt(address.and_then(country).map(Value::from)),
        opt(address.and_then(address_kind).map(Value::from)),
    ]
}

/// The GBA country code of an address (6030 Nederland).
pub(super) fn country(address: &fixture::Element) -> Option<&str> {
    address.code_in("country.extension.valueCodeableConcept", GBA_COUNTRY)
}

/// The kind of an address (zib AddressType: PHYS, HP, PST, TMP).
pub(super) fn address_kind(address: &fixture::Element) -> Option<&str> {
    address
        .ext("http://nictiz.nl/fhir/StructureDefinition/zib-AddressInformation-AddressType")
        .and_then(|e| e.get("valueCodeableConcept.coding.code"))
}

fn identifier<'a>(f: &'a Fixture, system: &str) -> Option<&'a str> {
    f.each("identifier").into_iter().find(|i| i.get("system") == Some(system)).and_then(|i| i.get("value"))
}

fn telecom<'a>(f: &'a fixture::Element, system: &str) -> Option<&'a str> {
    f.each("telecom").into_iter().find(|t| t.get("system") == Some(system)).and_then(|t| t.get("value"))
}

fn street(address: &fixture::Element) -> Option<&str> {
    address
        .first("line")
        .and_then(|l| l.ext("http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName"))
        .and_then(|e| e.get("valueString"))
        .or_else(|| address.get("line"))
}

fn house_number(address: &fixture::Element) -> Option<&str> {
    address
        .first("line")
        .and_then(|l| l.ext("http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber"))
        .and_then(|e| e.get("valueString"))
}

/// The legacy sex code: M, V (vrouw) or O.
fn gender(f: &Fixture) -> Option<&'static str> {
    match f.get("gender")? {
        "male" => Some("M"),
        "female" => Some("V"),
        _ => Some("O"),
    }
}

const UZI: &str = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers";
const UZI_ROLE: &str = "http://fhir.nl/fhir/NamingSystem/uzi-rolcode";
const VEKTIS: &str = "urn:oid:2.16.840.1.113883.2.4.6.7";
const GBA_COUNTRY: &str = "urn:oid:2.16.840.1.113883.2.4.4.16.34";
/// The role of a contact person (zib ContactPerson, table 472: 1 eerste contactpersoon).
const CONTACT_ROLE: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.22.472";
const ROLE_CODE: &str = "http://hl7.org/fhir/v3/RoleCode";

/// MC (mobile) or LL (landline) for the first phone number: its zib telecom type, else what
/// the number looks like.
/// The recorded kind of a phone number (zib TelecomType MC or LL), if the source gives one.
pub(super) fn recorded_phone_kind(f: &fixture::Element) -> Option<&'static str> {
    let phone = f.each("telecom").into_iter().find(|t| t.get("system") == Some("phone"))?;
    let kind = phone.ext("http://nictiz.nl/fhir/StructureDefinition/zib-ContactInformation-TelecomType");
    match kind.and_then(|k| k.get("valueCodeableConcept.coding.code")) {
        Some("MC") => Some("MC"),
        Some("LL") => Some("LL"),
        _ => None,
    }
}

/// A patient's phone kind: as recorded, else from the number (06 mobile); only for the patient,
/// whose record the practice keeps with a kind for every number.
pub(super) fn phone_kind(f: &fixture::Element) -> Option<&'static str> {
    let phone = f.each("telecom").into_iter().find(|t| t.get("system") == Some("phone"))?;
    match recorded_phone_kind(f) {
        Some(kind) => Some(kind),
        None => {
            let number = phone.get("value")?.replace(['-', ' '], "");
            Some(if number.starts_with("06") || number.starts_with("+316") { "MC" } else { "LL" })
        }
    }
}

/// `medewerker.functie` for a UZI role code.
fn local_function(uzi_role: &str) -> Option<&'static str> {
    match uzi_role {
        "01.015" => Some("HA"),
        "01.000" => Some("AS"),
        "30.000" => Some("PO"),
        _ => None,
    }
}

/// Keeps the fixture's business identifier (its first) for row `key` of `kind` in `kenmerk`.
pub(super) fn identify(t: &mut Tables, kind: &'static str, key: i64, fixture: &fixture::Element) {
    let Some(identifier) = fixture.first("identifier") else { return };
    if let (Some(system), Some(value)) = (identifier.get("system"), identifier.get("value")) {
        t.add("kenmerk", vec![kind.into(), Value::Int(key), system.into(), value.into()]);
    }
}

/// Text, or NULL when absent or empty.
pub fn text(v: Option<&str>) -> Value {
    blank_null(v.unwrap_or_default())
}
