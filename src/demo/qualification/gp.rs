//! The GP-data qualification fixtures (patient XXX_Cevat) as demo-his rows: episodes,
//! contacts, journal lines, lab and diagnostic results, medicines, prescriptions, allergies.
//! Compositions are not stored: like a real GP system, the connector builds the encounter
//! report of each contact from its journal lines (composition.yaml).

use super::fixture::{Element, Fixture};
use super::{text, Fixtures, Keys};
use crate::demo::tables::{opt, yes_no, Tables};
use dva_source_api::Value;

const EPISODE_CONTEXT: &str = "http://nictiz.nl/fhir/StructureDefinition/extension-context-nl-core-episodeofcare";
const NHG_45: &str = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen";
const JOURNAL_LINE_TYPES: &str = "http://fhir.nl/fhir/NamingSystem/journaalregeltypen";
const HPK: &str = "urn:oid:2.16.840.1.113883.2.4.4.7";
const PRK: &str = "urn:oid:2.16.840.1.113883.2.4.4.10";

pub(super) fn load(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) -> anyhow::Result<()> {
    episodes(t, fixtures, keys);
    contacts(t, fixtures, keys);
    observations(t, fixtures, keys);
    medication(t, fixtures, keys);
    allergies(t, fixtures, keys);
    Ok(())
}

/// The episode an element's context extension points to.
fn episode_of(f: &Element, keys: &Keys) -> Value {
    keys.value(f.ext(EPISODE_CONTEXT).and_then(|e| e.reference("valueReference")))
}

fn episodes(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for episode in fixtures.of_type("EpisodeOfCare") {
        let key = t.next_id("episode");
        keys.insert(episode, key);
        let condition = episode.reference("diagnosis.condition").and_then(|r| fixtures.get(r));
        // The legacy table keeps the ICPC-1 main code only (3 characters).
        let icpc = condition
            .and_then(|c| c.code_in("code", "http://hl7.org/fhir/sid/icpc-1-nl"))
            .map(|c| c.chars().take(3).collect::<String>());
        let title = episode
            .ext("http://nictiz.nl/fhir/StructureDefinition/EpisodeOfCare-Title")
            .and_then(|e| e.get("valueString"));
        let finished = episode.get("status") == Some("finished");
        t.add(
            "episode",
            vec![
                Value::Int(key),
                keys.value(episode.reference("patient")),
                opt(icpc.map(Value::from)),
                text(title),
                opt(episode.date("period.start").map(Value::Date)),
                opt(episode.date("period.end").map(Value::Date)),
                (if finished { "B" } else { "A" }).into(),
                yes_no(false),
            ],
        );
    }
}

fn contacts(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for encounter in fixtures.of_type("Encounter") {
        let key = t.next_id("contact");
        keys.insert(encounter, key);
        let start = encounter.datetime("period.start");
        let minutes =
            start.zip(encounter.datetime("period.end")).map(|(s, e)| (e - s).num_minutes()).filter(|m| *m > 0);
        t.add(
            "contact",
            vec![
                Value::Int(key),
                keys.value(encounter.reference("subject")),
                keys.value(encounter.reference("episodeOfCare")),
                keys.value(encounter.reference("participant.individual")),
                text(encounter.code_in("type", "https://referentiemodel.nhg.org/tabellen/nhg-tabel-14-contactwijze")),
                opt(start.map(Value::Timestamp)),
                opt(minutes.map(Value::Int)),
                yes_no(false),
            ],
        );
    }
}

/// Journal lines (SOEP) and results coded in NHG table 45; other observations have no place
/// in this legacy system.
fn observations(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for observation in fixtures.of_type("Observation") {
        if let Some(soep) = observation.code_in("code", JOURNAL_LINE_TYPES) {
            let key = t.next_id("journaalregel");
            keys.insert(observation, key);
            t.add(
                "journaalregel",
                vec![
                    Value::Int(key),
                    keys.value(observation.reference("context")),
                    keys.value(observation.reference("subject")),
                    episode_of(observation, keys),
                    soep.into(),
                    text(observation.get("valueString")),
                    yes_no(false),
                ],
            );
        } else if let Some(code) = observation.code_in("code", NHG_45) {
            if keys.first_row("bepaling", code) {
                t.add("bepaling", test(observation, code));
            }
            let key = t.next_id("labuitslag");
            keys.insert(observation, key);
            t.add(
                "labuitslag",
                vec![
                    Value::Int(key),
                    keys.value(observation.reference("subject")),
                    keys.value(observation.reference("context")),
                    episode_of(observation, keys),
                    keys.value(observation.reference("performer")),
                    code.into(),
                    opt(result(observation).map(Value::from)),
                    opt(observation.datetime("effectiveDateTime").map(Value::Timestamp)),
                    (if observation.get("status") == Some("final") { "D" } else { "V" }).into(),
                    yes_no(false),
                ],
            );
        }
    }
}

/// A `bepaling` row (the lab's test table) from the first result of a test.
fn test(observation: &Fixture, code: &str) -> Vec<Value> {
    let coding = observation.each("code.coding").into_iter().find(|c| c.get("system") == Some(NHG_45));
    let name = coding.and_then(|c| c.get("display")).or(observation.get("code.text")).unwrap_or(code);
    let comma = |v: Option<&str>| opt(v.map(|v| Value::from(v.replace('.', ","))));
    vec![
        code.into(),
        name.into(),
        text(observation.get("valueQuantity.unit")),
        text(observation.code_in("code", "http://loinc.org")),
        comma(observation.get("referenceRange.low.value")),
        comma(observation.get("referenceRange.high.value")),
    ]
}

/// The result as the legacy system stores it: text, with a decimal comma.
fn result(observation: &Fixture) -> Option<String> {
    if let Some(v) = observation.get("valueQuantity.value") {
        return Some(v.replace('.', ","));
    }
    observation
        .get("valueString")
        .or_else(|| observation.get("valueCodeableConcept.coding.display"))
        .or_else(|| observation.get("valueCodeableConcept.text"))
        .map(str::to_owned)
}

fn medication(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for product in fixtures.of_type("Medication") {
        // Articles without a G-Standaard HPK get negative local numbers; the mapping leaves
        // those out of the HPK coding.
        let hpk = product.code_in("code", HPK).and_then(|c| c.parse::<i64>().ok());
        let key = hpk.unwrap_or_else(|| -t.next_id("middel"));
        keys.insert(product, key);
        if !keys.first_row("middel", &key.to_string()) {
            continue;
        }
        let name = product.get("code.coding.display").or(product.get("code.text")).unwrap_or(&product.id);
        t.add(
            "middel",
            vec![
                Value::Int(key),
                opt(product.code_in("code", PRK).and_then(|c| c.parse::<i64>().ok()).map(Value::Int)),
                name.into(),
                text(product.get("form.coding.display")),
            ],
        );
    }
    for request in fixtures.of_type("MedicationRequest") {
        let Some(medicine) = keys.get(request.reference("medicationReference")) else { continue };
        let key = t.next_id("voorschrift");
        keys.insert(request, key);
        let period = request.ext("http://nictiz.nl/fhir/StructureDefinition/zib-Medication-PeriodOfUse");
        let dosage = request.first("dosageInstruction");
        t.add(
            "voorschrift",
            vec![
                Value::Int(key),
                keys.value(request.reference("subject")),
                keys.value(request.reference("context")),
                episode_of(request, keys),
                keys.value(request.reference("requester.agent")),
                Value::Int(medicine),
                text(dosage.and_then(|d| d.get("text"))),
                opt(dosage
                    .and_then(|d| d.get("timing.repeat.frequency"))
                    .and_then(|f| f.parse::<i64>().ok())
                    .map(Value::Int)),
                text(dosage.and_then(|d| d.get("doseQuantity.value"))),
                opt(period.and_then(|p| p.date("valuePeriod.start")).map(Value::Date)),
                opt(period.and_then(|p| p.date("valuePeriod.end")).map(Value::Date)),
                opt(request.datetime("authoredOn").map(Value::Timestamp)),
                (if request.get("status").is_none_or(|s| s == "active") { "A" } else { "G" }).into(),
                yes_no(false),
            ],
        );
    }
}

fn allergies(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for allergy in fixtures.of_type("AllergyIntolerance") {
        let key = t.next_id("allergie");
        keys.insert(allergy, key);
        let category = match allergy.get("category") {
            Some("food") => "V",
            Some("environment") => "O",
            _ => "M",
        };
        let severity = match allergy.get("criticality") {
            Some("low") => "1",
            Some("high") => "3",
            _ => "2",
        };
        let code = allergy.get("code.coding.code").and_then(|c| c.parse::<i64>().ok());
        let name = allergy.get("code.coding.display").or(allergy.get("code.text"));
        t.add(
            "allergie",
            vec![
                Value::Int(key),
                keys.value(allergy.reference("patient")),
                opt(code.map(Value::Int)),
                text(name),
                category.into(),
                (if allergy.get("clinicalStatus") == Some("inactive") { "I" } else { "A" }).into(),
                severity.into(),
                opt(allergy.datetime("assertedDate").or(allergy.datetime("onsetDateTime")).map(Value::Timestamp)),
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
                    text(reaction.code_in("manifestation", "http://snomed.info/sct")),
                    text(reaction.get("description").or(reaction.get("manifestation.coding.display"))),
                ],
            );
        }
    }
}
