//! Fixtures that land in the GP tables whichever service they come from: allergies, medicine
//! products and lab results; and the small conversions every loader uses.

use super::fixture::Fixture;
use super::{text, Fixtures, Keys};
use crate::tables::{opt, yes_no, Tables};
use chrono::{NaiveDate, NaiveDateTime};
use dva_source_api::Value;

pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const NHG_45: &str = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen";
pub const HPK: &str = "urn:oid:2.16.840.1.113883.2.4.4.7";
pub const PRK: &str = "urn:oid:2.16.840.1.113883.2.4.4.10";
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

/// Allergies into `allergie` and `allergie_reactie`. This GP system codes medicines with the
/// G-Standaard and the rest with SNOMED CT, by category: a SNOMED-coded allergy goes in as O
/// (omgeving), so its code keeps the right code system.
pub fn allergies(t: &mut Tables, fixtures: &Fixtures, keys: &Keys) {
    for allergy in fixtures.of_type("AllergyIntolerance") {
        let category = match (allergy.get("category"), allergy.code_in("code", SNOMED)) {
            (Some("food"), _) => "V",
            (_, Some(_)) => "O",
            _ => "M",
        };
        let severity = match allergy.get("criticality") {
            Some("low") => "1",
            Some("high") => "3",
            _ => "2",
        };
        let key = t.next_id("allergie");
        t.add(
            "allergie",
            vec![
                Value::Int(key),
                keys.value(allergy.reference("patient")),
                integer(allergy.get("code.coding.code")),
                text(allergy.get("code.coding.display").or(allergy.get("code.text"))),
                category.into(),
                (if allergy.get("clinicalStatus") == Some("inactive") { "I" } else { "A" }).into(),
                severity.into(),
                timestamp(allergy.datetime("assertedDate").or(allergy.datetime("onsetDateTime"))),
                text(allergy.get("note.text")),
                keys.value(allergy.reference("recorder")),
                yes_no(false),
            ],
        );
        for reaction in allergy.each("reaction") {
            let id = t.next_id("allergie_reactie");
            t.add(
                "allergie_reactie",
                vec![
                    Value::Int(id),
                    Value::Int(key),
                    text(reaction.code_in("manifestation", SNOMED)),
                    text(reaction.get("description").or(reaction.get("manifestation.coding.display"))),
                ],
            );
        }
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
        t.add(
            "bepaling",
            vec![
                code.as_str().into(),
                name.into(),
                text(o.get("valueQuantity.code").or(o.get("valueQuantity.unit"))),
                text(loinc),
                comma(o.get("referenceRange.low.value")),
                comma(o.get("referenceRange.high.value")),
                opt(material(fixtures, o).map(Value::from)),
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
    let key = t.next_id("labuitslag");
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
            timestamp(o.datetime("effectiveDateTime").or(o.datetime("effectivePeriod.start"))),
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
