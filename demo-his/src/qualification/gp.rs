//! The GP-data qualification fixtures (patient XXX_Cevat) as demo-his rows: episodes,
//! contacts, journal lines, lab and diagnostic results, medicines, prescriptions, allergies.
//! Compositions are not stored: like a real GP system, the connector builds the encounter
//! report of each contact from its journal lines (composition.yaml).

use super::fixture::Element;
use super::{identify, shared, text, Fixtures, Keys};
use crate::tables::{opt, yes_no, Tables};
use dva_source_api::Value;

const EPISODE_CONTEXT: &str = "http://nictiz.nl/fhir/StructureDefinition/extension-context-nl-core-episodeofcare";
const JOURNAL_LINE_TYPES: &str = "http://fhir.nl/fhir/NamingSystem/journaalregeltypen";

pub(super) fn load(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) -> anyhow::Result<()> {
    episodes(t, fixtures, keys);
    contacts(t, fixtures, keys);
    reports(t, fixtures, keys);
    observations(t, fixtures, keys);
    medication(t, fixtures, keys);
    shared::allergies(t, fixtures, keys);
    Ok(())
}

const ICPC: &str = "http://hl7.org/fhir/sid/icpc-1-nl";

/// A contact's report is built from its journal lines, not stored; the identifier it was sent
/// with is kept for the contact (kenmerk `verslag`).
fn reports(t: &mut Tables, fixtures: &Fixtures, keys: &Keys) {
    for report in fixtures.of_type("Composition") {
        if let Some(contact) = keys.get(report.reference("encounter")) {
            identify(t, "verslag", contact, report);
        }
    }
}

/// The episode an element's context extension points to.
fn episode_of(f: &Element, keys: &Keys) -> Value {
    keys.value(f.ext(EPISODE_CONTEXT).and_then(|e| e.reference("valueReference")))
}

fn episodes(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for episode in fixtures.of_type("EpisodeOfCare") {
        let key = t.next_id("episode");
        identify(t, "episode", key, episode);
        keys.insert(episode, key);
        let condition = episode.reference("diagnosis.condition").and_then(|r| fixtures.get(r));
        let icpc = condition.and_then(|c| c.code_in("code", ICPC));
        let reference = episode.literal_reference();
        let alert = fixtures.of_type("Flag").find(|f| {
            f.ext("http://hl7.org/fhir/StructureDefinition/flag-detail").and_then(|e| e.reference("valueReference"))
                == Some(reference.as_str())
        });
        // The diagnosis and the alert are the episode's: their identifiers are kept for it.
        if let Some(condition) = condition {
            identify(t, "diagnose", key, condition);
        }
        if let Some(alert) = alert {
            identify(t, "attentie", key, alert);
        }
        let alert_period = alert.map(|a| (a.date("period.start"), a.date("period.end")));
        let alert = alert.is_some();
        let kind = match condition.and_then(|c| c.code_in("category", shared::SNOMED)) {
            Some("409586006") => Some("K"),
            Some(_) => Some("D"),
            None => None,
        };
        let title = episode
            .ext("http://nictiz.nl/fhir/StructureDefinition/EpisodeOfCare-Title")
            .and_then(|e| e.get("valueString"));
        let finished = episode.get("status") == Some("finished");
        t.add(
            "episode",
            vec![
                Value::Int(key),
                keys.value(episode.reference("patient")),
                text(icpc),
                text(title),
                text(condition.and_then(|c| c.get("code.coding.display"))),
                opt(kind.map(Value::from)),
                opt(episode.date("period.start").map(Value::Date)),
                opt(episode.date("period.end").map(Value::Date)),
                (if finished { "B" } else { "A" }).into(),
                yes_no(alert),
                opt(alert_period.and_then(|p| p.0).map(Value::Date)),
                opt(alert_period.and_then(|p| p.1).map(Value::Date)),
                keys.value(condition.and_then(|c| c.reference("asserter"))),
                yes_no(false),
            ],
        );
    }
}

fn contacts(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for encounter in fixtures.of_type("Encounter") {
        let key = t.next_id("contact");
        identify(t, "contact", key, encounter);
        keys.insert(encounter, key);
        let start = encounter.datetime("period.start");
        t.add(
            "contact",
            vec![
                Value::Int(key),
                keys.value(encounter.reference("subject")),
                keys.value(encounter.reference("episodeOfCare")),
                keys.value(encounter.reference("participant.individual")),
                text(encounter.code_in("type", "https://referentiemodel.nhg.org/tabellen/nhg-tabel-14-contactwijze")),
                opt(start.map(Value::Timestamp)),
                opt(encounter.precision("period.start").map(Value::from)),
                opt(encounter.datetime("period.end").map(Value::Timestamp)),
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
            let diagnosis = observation
                .each("component.valueCodeableConcept.coding")
                .into_iter()
                .find(|c| c.get("system") == Some(ICPC));
            let key = t.next_id("journaalregel");
            identify(t, "journaalregel", key, observation);
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
                    text(diagnosis.and_then(|c| c.get("code"))),
                    text(diagnosis.and_then(|c| c.get("display"))),
                    yes_no(false),
                ],
            );
        } else if observation.code_in("code", shared::NHG_45).is_some() {
            let contact = keys.value(observation.reference("context"));
            let episode = episode_of(observation, keys);
            shared::lab_result(t, fixtures, observation, keys, contact, episode);
        }
    }
}

fn medication(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    shared::products(t, fixtures, keys);
    for request in fixtures.of_type("MedicationRequest") {
        let Some(medicine) = keys.get(request.reference("medicationReference")) else { continue };
        let (contact, episode) = (keys.value(request.reference("context")), episode_of(request, keys));
        let key = shared::prescription(t, request, keys, medicine, contact, episode);
        keys.insert(request, key);
    }
}
