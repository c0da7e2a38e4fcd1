//! Fixtures that land in the GP tables whichever service they come from: allergies, medicine
//! products and lab results; and the small conversions every loader uses.

use super::fixture::{Element, Fixture};
use super::{identify, text, Fixtures, Keys};
use crate::tables::{opt, yes_no, Tables};
use chrono::{NaiveDate, NaiveDateTime};
use dva_source_api::Value;

pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const NHG_45: &str = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen";
pub const HPK: &str = "urn:oid:2.16.840.1.113883.2.4.4.7";
pub const PRK: &str = "urn:oid:2.16.840.1.113883.2.4.4.10";
pub const GPK: &str = "urn:oid:2.16.840.1.113883.2.4.4.1";
pub const AGB: &str = "http://fhir.nl/fhir/NamingSystem/agb-z";
pub const URA: &str = "http://fhir.nl/fhir/NamingSystem/ura";
pub const ROUTE: &str = "urn:oid:2.16.840.1.113883.2.4.4.9";
pub const NHG_25: &str =
    "https://referentiemodel.nhg.org/tabellen/nhg-tabel-25-gebruiksvoorschrift#aanvullend-numeriek";
const SD: &str = "http://nictiz.nl/fhir/StructureDefinition/";

pub fn date(d: Option<NaiveDate>) -> Value {
    opt(d.map(Value::Date))
}

pub fn timestamp(t: Option<NaiveDateTime>) -> Value {
    opt(t.map(Value::Timestamp))
}

/// A number as the legacy system types it: text with a decimal comma.
pub fn comma(v: Option<&str>) -> Value {
    opt(v.map(|v| Value::from(v.replace('.', ","))))
}

pub fn integer(v: Option<&str>) -> Value {
    opt(v.and_then(|v| v.parse::<i64>().ok()).map(Value::Int))
}

/// Allergies into `allergie` and `allergie_reactie`, with the code system each code came in.
pub fn allergies(t: &mut Tables, fixtures: &Fixtures, keys: &Keys) {
    for allergy in fixtures.of_type("AllergyIntolerance") {
        let category = match allergy.get("category") {
            Some("food") => "V",
            Some("environment") => "O",
            Some("biologic") => "B",
            _ => "M",
        };
        // The zib's own codes first: FHIR's values are coarser (matig and ernstig are both high).
        let status = match (
            allergy.code_in("clinicalStatus.extension.valueCodeableConcept", ACT_STATUS),
            allergy.get("clinicalStatus"),
        ) {
            (Some("obsolete"), _) | (None, Some("inactive")) => "I",
            (Some("completed"), _) | (None, Some("resolved")) => "H",
            _ => "A",
        };
        let severity = local_severity(allergy.code_in("criticality.extension.valueCodeableConcept", SNOMED)).or(
            match allergy.get("criticality") {
                Some("low") => Some("1"),
                Some("high") => Some("3"),
                _ => None,
            },
        );
        let (system, code) = coded(allergy.first("code"));
        let key = t.next_id("allergie");
        identify(t, "allergie", key, allergy);
        t.add(
            "allergie",
            vec![
                Value::Int(key),
                keys.value(allergy.reference("patient")),
                integer(code),
                opt(system.map(Value::from)),
                text(allergy.get("code.coding.display").or(allergy.get("code.text"))),
                category.into(),
                status.into(),
                opt(severity.map(Value::from)),
                date(allergy.date("onsetDateTime")),
                date(allergy.date("lastOccurrence")),
                timestamp(allergy.datetime("assertedDate")),
                text(allergy.get("note.text")),
                keys.value(allergy.reference("recorder")),
                yes_no(false),
            ],
        );
        for reaction in allergy.each("reaction") {
            let id = t.next_id("allergie_reactie");
            let (substance_system, substance) = coded(reaction.first("substance"));
            let reaction_severity = local_severity(reaction.code_in("severity.extension.valueCodeableConcept", SNOMED))
                .or(match reaction.get("severity") {
                    Some("mild") => Some("1"),
                    Some("moderate") => Some("2"),
                    Some("severe") => Some("3"),
                    _ => None,
                });
            t.add(
                "allergie_reactie",
                vec![
                    Value::Int(id),
                    Value::Int(key),
                    text(reaction.code_in("manifestation", SNOMED)),
                    text(reaction.get("manifestation.coding.display")),
                    integer(substance),
                    opt(substance_system.map(Value::from)),
                    text(reaction.get("substance.coding.display")),
                    text(reaction.get("description")),
                    timestamp(reaction.datetime("onset")),
                    opt(reaction_severity.map(Value::from)),
                ],
            );
        }
    }
}

const ACT_STATUS: &str = "http://hl7.org/fhir/v3/ActStatus";

/// The local code system letter of a coded allergen (G-Standaard stofnaam or HPK, SNOMED CT)
/// and the code.
fn coded(concept: Option<&Element>) -> (Option<&'static str>, Option<&str>) {
    let codings = concept.map(|c| c.each("coding")).unwrap_or_default();
    codings
        .iter()
        .find_map(|c| {
            let system = match c.get("system")? {
                "urn:oid:2.16.840.1.113883.2.4.4.1.750" => "G",
                HPK => "H",
                SNOMED => "S",
                _ => return None,
            };
            Some((Some(system), c.get("code")))
        })
        .unwrap_or((None, None))
}

/// The local severity (1 licht, 2 matig, 3 ernstig) of its SNOMED CT code.
fn local_severity(snomed: Option<&str>) -> Option<&'static str> {
    match snomed? {
        "255604002" => Some("1"),
        "6736007" => Some("2"),
        "24484000" => Some("3"),
        _ => None,
    }
}

const NHG_45_RESULTS: &str =
    "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen#resultaten";

/// `bepaling.soort` of a result: V a vital sign, L a lab test, B another diagnostic result.
fn kind_of_test(o: &Fixture) -> &'static str {
    let categories = o.each("category.coding");
    if categories.iter().any(|c| c.get("code") == Some("vital-signs")) {
        "V"
    } else if o.profile().is_some_and(|p| p.ends_with("gp-DiagnosticResult")) {
        "B"
    } else {
        "L"
    }
}

/// Medicine products into `middel`, keyed by their G-Standaard HPK; articles without one get
/// negative local numbers (the mappings leave those out of the HPK coding). A product two
/// services share is written once.
pub fn products(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for product in fixtures.of_type("Medication") {
        let hpk = product.code_in("code", HPK).and_then(|c| c.parse::<i64>().ok());
        let key = hpk.unwrap_or_else(|| -t.next_id("middel"));
        keys.insert(product, key);
        if !keys.first_row("middel", &key.to_string()) {
            continue;
        }
        t.add(
            "middel",
            vec![
                Value::Int(key),
                integer(product.code_in("code", PRK)),
                integer(product.code_in("code", GPK)),
                product.get("code.text").or(product.get("code.coding.display")).unwrap_or(&product.id).into(),
                text(product.get("form.coding.display")),
            ],
        );
    }
}

/// The local material code (bepaling.materiaal) of the specimen a result was measured in.
fn material(fixtures: &Fixtures, o: &Fixture) -> Option<&'static str> {
    let specimen = o.reference("specimen").and_then(|r| fixtures.get(r))?;
    match specimen.code_in("type", SNOMED)? {
        "119297000" => Some("BLD"),
        "122575003" => Some("URI"),
        _ => None,
    }
}

/// A lab or diagnostic result into `labuitslag`, and its test into `bepaling` (a test without
/// an NHG table 45 number gets the lab's own code: L and its LOINC code's digits; its material
/// is that of the result's specimen). `contact`
/// and `episode` are the GP contact and episode it belongs to, if any.
pub fn lab_result(t: &mut Tables, fixtures: &Fixtures, o: &Fixture, keys: &mut Keys, contact: Value, episode: Value) {
    let nhg = o.code_in("code", NHG_45);
    let loinc = o.code_in("code", LOINC);
    let Some(code) = nhg
        .map(str::to_owned)
        .or_else(|| loinc.map(|l| format!("L{}", l.replace('-', "")).chars().take(6).collect::<String>()))
    else {
        return;
    };
    if keys.first_row("bepaling", &code) {
        let coding = o.each("code.coding").into_iter().find(|c| c.get("code") == Some(code.as_str()));
        let name = coding
            .and_then(|c| c.get("display"))
            .or(o.get("code.coding.display"))
            .or(o.get("code.text"))
            .unwrap_or(&code)
            .to_owned();
        let loinc_name = o.each("code.coding").into_iter().find(|c| c.get("system") == Some(LOINC));
        t.add(
            "bepaling",
            vec![
                code.as_str().into(),
                name.into(),
                text(o.get("valueQuantity.code").or(o.get("valueQuantity.unit"))),
                text(o.get("valueQuantity.unit")),
                text(loinc),
                text(loinc_name.and_then(|c| c.get("display"))),
                comma(o.get("referenceRange.low.value")),
                comma(o.get("referenceRange.high.value")),
                opt(material(fixtures, o).map(Value::from)),
                kind_of_test(o).into(),
            ],
        );
    }
    // The result as the lab sent it: text, with a decimal comma.
    let result = o
        .get("valueQuantity.value")
        .map(|v| v.replace('.', ","))
        .or(o.get("valueString").map(str::to_owned))
        .or(o.get("valueCodeableConcept.coding.display").map(str::to_owned))
        .or(o.get("valueCodeableConcept.text").map(str::to_owned));
    let result_code = o.code_in("valueCodeableConcept", NHG_45_RESULTS);
    let key = t.next_id("labuitslag");
    identify(t, "labuitslag", key, o);
    if let Some(specimen) = o.reference("specimen").and_then(|r| fixtures.get(r)) {
        identify(t, "monster", key, specimen);
    }
    keys.insert(o, key);
    t.add(
        "labuitslag",
        vec![
            Value::Int(key),
            keys.value(o.reference("subject")),
            contact,
            episode,
            keys.value(o.reference("performer")),
            code.into(),
            opt(result.map(Value::from)),
            text(result_code),
            text(o.code_in("interpretation", "http://hl7.org/fhir/v2/0078")),
            text(o.code_in("bodySite", SNOMED)),
            text(o.get("bodySite.text")),
            timestamp(o.datetime("effectiveDateTime").or(o.datetime("effectivePeriod.start"))),
            opt(o.precision("effectiveDateTime").or(o.precision("effectivePeriod.start")).map(Value::from)),
            (if o.get("status") == Some("preliminary") { "V" } else { "D" }).into(),
            yes_no(false),
        ],
    );
}

/// A MedicationRequest (zib MedicationAgreement) as a `voorschrift` row, with its dosage in the
/// legacy columns. `contact` and `episode` are the row's keys for them, or NULL.
pub fn prescription(
    t: &mut Tables,
    request: &Fixture,
    keys: &Keys,
    medicine: i64,
    contact: Value,
    episode: Value,
) -> i64 {
    let key = t.next_id("voorschrift");
    identify(t, "voorschrift", key, request);
    // The medication treatment it belongs to, by the identifier the prescriber gave it.
    let treatment = request.ext(&format!("{SD}zib-Medication-MedicationTreatment"));
    if let Some((system, value)) =
        treatment.and_then(|e| Some((e.get("valueIdentifier.system")?, e.get("valueIdentifier.value")?)))
    {
        t.add("kenmerk", vec!["behandeling".into(), Value::Int(key), system.into(), value.into()]);
    }
    let period = request.ext(&format!("{SD}zib-Medication-PeriodOfUse"));
    let duration = request.ext(&format!("{SD}zib-MedicationUse-Duration"));
    let d = request.first("dosageInstruction");
    let get = |path: &str| d.and_then(|d| d.get(path));
    // An additional instruction that is not "zo nodig": its NHG code, its text.
    let instruction = d.and_then(|d| d.first("additionalInstruction"));
    let as_needed =
        d.is_some_and(|d| d.first("asNeededCodeableConcept").is_some() || d.get("asNeededBoolean") == Some("true"));
    let mut row = vec![
        Value::Int(key),
        keys.value(request.reference("subject")),
        contact,
        episode,
        keys.value(request.reference("requester.agent")),
        Value::Int(medicine),
        text(get("text")),
        integer(get("timing.repeat.frequency")),
        comma(get("doseQuantity.value")),
        integer(get("doseQuantity.code")),
        text(get("doseQuantity.unit")),
        integer(get("timing.repeat.period")),
        opt(get("timing.repeat.periodUnit").and_then(local_time_unit).map(Value::from)),
    ];
    row.extend([
        yes_no_value(d.is_some().then_some(as_needed)),
        text(d.and_then(|d| d.code_in("route", ROUTE))),
        text(instruction.and_then(|i| i.code_in("", NHG_25))),
        text(instruction.and_then(|i| i.get("text"))),
        integer(duration.and_then(|e| e.get("valueDuration.value"))),
        opt(duration.and_then(|e| e.get("valueDuration.code")).and_then(local_time_unit).map(Value::from)),
        date(period.and_then(|p| p.date("valuePeriod.start"))),
        date(period.and_then(|p| p.date("valuePeriod.end"))),
        timestamp(request.datetime("authoredOn")),
        opt(request.precision("authoredOn").map(Value::from)),
        // No status in the source, none in the row: the mapping must not make one up.
        opt(request.get("status").map(|s| Value::from(if s == "active" { "A" } else { "G" }))),
        yes_no(false),
    ]);
    t.add("voorschrift", row);
    key
}

/// The legacy unit of time for a UCUM unit (`d`, `wk`, ...), as `periode_eenheid` keeps it.
fn local_time_unit(ucum: &str) -> Option<&'static str> {
    Some(match ucum {
        "h" => "U",
        "d" => "D",
        "wk" => "W",
        "mo" => "M",
        "a" => "J",
        _ => return None,
    })
}

fn yes_no_value(flag: Option<bool>) -> Value {
    opt(flag.map(yes_no))
}
