//! The BgZ qualification fixtures (XIS scenario 1.1: XXX_Helleman; scenario 1.2, XXX_Mesker,
//! has no BgZ data) as demo-his rows: the BgZ tables of `demo/bgz.rs`, and the GP tables the BgZ
//! shares (allergie, voorschrift, middel, labuitslag, bepaling). The mapping set
//! `mappings/demo-his/bgz` then serves them like generated data. FHIR codes go back to the
//! legacy system's local codes where it has them; what a legacy table cannot hold (a related
//! person, a practitioner role) is left out.

use super::fixture::{Element, Fixture};
use super::shared::{comma, date, integer, timestamp, AGB, LOINC, SNOMED, URA};
use super::{identify, shared, text, Fixtures, Keys};
use crate::tables::{opt, yes_no, Tables};
use chrono::{NaiveDate, NaiveDateTime};
use dva_source_api::Value;
use std::collections::HashMap;

const ICD10: &str = "urn:oid:2.16.840.1.113883.6.90";
const VEKTIS: &str = "urn:oid:2.16.840.1.113883.2.4.6.7";
const ORGANIZATION_TYPE: &str = "http://nictiz.nl/fhir/NamingSystem/organization-type";
const UZOVI: &str = "http://fhir.nl/fhir/NamingSystem/uzovi";
const SD: &str = "http://nictiz.nl/fhir/StructureDefinition/";
const BODY_SITE_QUALIFIER: &str = "http://nictiz.nl/fhir/StructureDefinition/BodySite-Qualifier";

/// Local codes of `bgz.rs` (and the code tables of the mapping set) for FHIR codes.
type Codes = &'static [(&'static str, &'static str)];
const TREATMENTS: Codes = &[("89666000", "REA"), ("40617009", "BEA"), ("305351004", "IC"), ("116762002", "BLO")];
const VERIFIED_WITH: Codes = &[("116154003", "P"), ("8601000146109", "V")];
const TOBACCO: Codes =
    &[("449868002", "R"), ("230059006", "S"), ("8517006", "X"), ("266919005", "N"), ("43381005", "P")];
const TOBACCO_KINDS: Codes =
    &[("65568007", "SIG"), ("59978006", "SIGAAR"), ("82302008", "PIJP"), ("160619003", "SHAG")];
const ALCOHOL: Codes = &[("219006", "D"), ("105542008", "G"), ("82581004", "X"), ("228274009", "N")];
const DRUGS: Codes = &[("361055000", "G"), ("228367002", "N"), ("228368007", "NO"), ("44870007", "X")];
const DRUG_KINDS: Codes = &[("398705004", "CAN"), ("288459003", "XTC"), ("387085005", "COC"), ("703842006", "AMF")];
const FUNCTIONS: Codes = &[("284785009", "WAS"), ("282097004", "LOP"), ("47078008", "HOR"), ("311465003", "COG")];
const POSITIONS: Codes = &[("33586001", "ZIT"), ("102538003", "LIG"), ("10904000", "STA")];
const SIDES: Codes = &[("7771000", "L"), ("24028007", "R"), ("51440002", "B")];
const PROBLEM_KINDS: Codes = &[("282291009", "D"), ("409586006", "K"), ("418799008", "S")];
const PROBLEM_STATUS: Codes =
    &[("active", "A"), ("recurrence", "A"), ("inactive", "I"), ("remission", "I"), ("resolved", "H")];
const CERTAINTY: Codes = &[("confirmed", "B"), ("provisional", "W"), ("differential", "W"), ("unknown", "O")];
const PROCEDURE_KINDS: Codes = &[("387713003", "O"), ("103693007", "D"), ("277132007", "B")];
const ALERT_KINDS: Codes = &[("74018-3", "W"), ("75323-6", "A")];
const ENCOUNTER_CLASSES: Codes = &[("IMP", "K"), ("ACUTE", "K"), ("NONAC", "K"), ("SS", "D"), ("EMER", "S")];
const APPOINTMENT_STATUS: Codes = &[
    ("booked", "B"),
    ("proposed", "V"),
    ("pending", "W"),
    ("fulfilled", "G"),
    ("arrived", "G"),
    ("cancelled", "A"),
    ("noshow", "N"),
];
const DISPENSE_STATUS: Codes = &[("in-progress", "A"), ("preparation", "A"), ("completed", "G"), ("stopped", "S")];

fn to_local(codes: Codes, code: Option<&str>) -> Option<&'static str> {
    code.and_then(|c| codes.iter().find(|(fhir, _)| *fhir == c)).map(|(_, l)| *l)
}

fn local_value(codes: Codes, code: Option<&str>) -> Value {
    opt(to_local(codes, code).map(Value::from))
}

fn boolean(v: Option<&str>) -> Value {
    opt(v.map(|b| yes_no(b == "true")))
}

/// The value of an extension (by its url) at `path`, e.g. `valueString`.
fn ext_value<'a>(e: &'a Element, url: &str, value: &str) -> Option<&'a str> {
    e.ext(url).and_then(|x| x.get(value))
}

/// The SNOMED code of the laterality qualifier of a body site element.
fn side(site: Option<&Element>) -> Value {
    let qualifier = site.and_then(|s| s.ext(BODY_SITE_QUALIFIER));
    local_value(SIDES, qualifier.and_then(|q| q.code_in("valueCodeableConcept", SNOMED)))
}

/// The zib profile name of a fixture, e.g. `zib-BloodPressure`.
fn profile(f: &Fixture) -> &str {
    f.profile().and_then(|p| p.strip_prefix(SD)).unwrap_or_default()
}

/// Address-book keys by `Type/id`: an Organization is also a `praktijk` row, whose key the shared
/// `Keys` hold.
#[derive(Default)]
struct Local {
    orgs: HashMap<String, i64>,
}

impl Local {
    fn org(&self, reference: Option<&str>) -> Value {
        opt(reference.and_then(|r| self.orgs.get(r)).map(|k| Value::Int(*k)))
    }
}

/// Writes this service's qualification fixtures as rows (patients, practitioners and
/// organizations are already loaded: their keys are in `keys`).
pub(super) fn load(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) -> anyhow::Result<()> {
    let mut local = Local::default();
    organizations(t, fixtures, &mut local);
    problems(t, fixtures, keys);
    devices(t, fixtures, keys, &local);
    coverage(t, fixtures, keys, &local);
    directives(t, fixtures, keys);
    observations(t, fixtures, keys);
    nutrition_and_alerts(t, fixtures, keys);
    shared::allergies(t, fixtures, keys);
    medication(t, fixtures, keys, &local);
    vaccinations(t, fixtures, keys);
    procedures(t, fixtures, keys, &local);
    encounters(t, fixtures, keys, &local);
    appointments(t, fixtures, keys, &local);
    Ok(())
}

/// Every Organization into the address book (`instelling`).
fn organizations(t: &mut Tables, fixtures: &Fixtures, local: &mut Local) {
    for org in fixtures.of_type("Organization") {
        let identifier = |system: &str| {
            org.each("identifier").into_iter().find(|i| i.get("system") == Some(system)).and_then(|i| i.get("value"))
        };
        let specialism = org.code_in("type", VEKTIS);
        let kind = if identifier(UZOVI).is_some() {
            "ZV"
        } else {
            match org.code_in("type", ORGANIZATION_TYPE) {
                Some("J8" | "K9") => "AP",
                Some("Z3" | "K3" | "N6") => "HA",
                Some("V4" | "V5" | "V6" | "P4") => "ZH",
                _ if specialism.is_some() => "ZH",
                _ => "OV",
            }
        };
        let address = org.first("address");
        let line = address.and_then(|a| a.first("line"));
        let part = |url: &str| line.and_then(|l| ext_value(l, url, "valueString"));
        let key = t.next_id("instelling");
        local.orgs.insert(org.literal_reference(), key);
        t.add(
            "instelling",
            vec![
                Value::Int(key),
                org.get("name").unwrap_or("Zorgaanbieder").into(),
                kind.into(),
                text(identifier(AGB)),
                text(identifier(URA)),
                text(identifier(UZOVI)),
                text(specialism),
                text(
                    org.each("telecom")
                        .into_iter()
                        .find(|c| c.get("system") == Some("phone"))
                        .and_then(|c| c.get("value")),
                ),
                text(
                    part("http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName")
                        .or(line.and_then(|l| l.value.as_deref())),
                ),
                text(part("http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber")),
                text(address.and_then(|a| a.get("postalCode"))),
                text(address.and_then(|a| a.get("city"))),
                text(super::recorded_phone_kind(org)),
                text(address.and_then(super::country)),
                text(address.and_then(super::address_kind)),
                yes_no(false),
            ],
        );
        // An identifier beside the AGB, URA and UZOVI numbers, which have columns of their own.
        let own = org.each("identifier").into_iter().find(|i| !matches!(i.get("system"), Some(AGB | URA | UZOVI)));
        if let Some((system, value)) = own.and_then(|i| Some((i.get("system")?, i.get("value")?))) {
            t.add("kenmerk", vec!["instelling".into(), Value::Int(key), system.into(), value.into()]);
        }
    }
}

fn problems(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for condition in fixtures.of_type("Condition") {
        let (code, system) = match condition.code_in("code", ICD10) {
            Some(icd) => (Some(icd), "I"),
            None => (condition.code_in("code", SNOMED), "S"),
        };
        let Some(code) = code else { continue };
        let site = condition.first("bodySite");
        let key = t.next_id("probleem");
        identify(t, "probleem", key, condition);
        keys.insert(condition, key);
        t.add(
            "probleem",
            vec![
                Value::Int(key),
                keys.value(condition.reference("subject")),
                code.into(),
                system.into(),
                condition.get("code.coding.display").or(condition.get("code.text")).unwrap_or(code).into(),
                local_value(PROBLEM_KINDS, condition.code_in("category", SNOMED)),
                to_local(PROBLEM_STATUS, condition.get("clinicalStatus")).unwrap_or("A").into(),
                local_value(CERTAINTY, condition.get("verificationStatus")),
                text(site.and_then(|s| s.code_in("", SNOMED))),
                side(site),
                date(condition.date("onsetDateTime").or(condition.date("onsetPeriod.start"))),
                date(condition.date("abatementDateTime").or(condition.date("onsetPeriod.end"))),
                opt(condition.precision("onsetDateTime").or(condition.precision("onsetPeriod.start")).map(Value::from)),
                opt(condition
                    .precision("abatementDateTime")
                    .or(condition.precision("onsetPeriod.end"))
                    .map(Value::from)),
                text(condition.get("note.text")),
                keys.value(condition.reference("asserter")),
                yes_no(false),
            ],
        );
    }
}

/// Devices, each with the statement or request that refers to it: one `hulpmiddel` row.
fn devices(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys, local: &Local) {
    let statements: Vec<&Fixture> = fixtures.of_type("DeviceUseStatement").collect();
    let requests: Vec<&Fixture> = fixtures.of_type("DeviceRequest").collect();
    for device in fixtures.of_type("Device") {
        let reference = device.literal_reference();
        let statement = statements.iter().find(|s| s.reference("device") == Some(reference.as_str()));
        let request = requests.iter().find(|r| r.reference("codeReference") == Some(reference.as_str()));
        let (status, usage): (&str, Option<&Fixture>) = match (statement, request) {
            (Some(s), _) => (if s.get("status") == Some("active") { "A" } else { "G" }, Some(s)),
            (None, Some(r)) => (if r.get("status") == Some("active") { "V" } else { "X" }, Some(r)),
            // A product no statement or request refers to has no place in this table.
            (None, None) => continue,
        };
        let serial = device
            .each("identifier")
            .into_iter()
            .find(|i| i.code_in("type", "http://hl7.org/fhir/identifier-type") == Some("SNO"))
            .and_then(|i| i.get("value"));
        let code = device.code_in("type", SNOMED).unwrap_or("OTH");
        let site = usage.and_then(|u| u.first("bodySite"));
        let problem = usage.and_then(|u| {
            u.first("indication")
                .and_then(|i| i.ext(&format!("{SD}zib-MedicalDevice-Problem")))
                .and_then(|e| e.reference("valueReference"))
                .or(u.reference("reasonReference"))
        });
        let start = usage.and_then(|u| u.date("whenUsed.start").or(u.date("occurrenceDateTime")));
        let key = t.next_id("hulpmiddel");
        if let Some(usage) = usage {
            identify(t, "hulpmiddel", key, usage);
        }
        keys.insert(device, key);
        t.add(
            "hulpmiddel",
            vec![
                Value::Int(key),
                keys.value(device.reference("patient").or(usage.and_then(|u| u.reference("subject")))),
                code.into(),
                device.get("type.coding.display").or(device.get("type.text")).unwrap_or("Hulpmiddel").into(),
                text(serial),
                text(device.get("udi.deviceIdentifier")),
                text(device.get("udi.carrierHRF")),
                date(device.date("expirationDate")),
                status.into(),
                date(start),
                date(usage.and_then(|u| u.date("whenUsed.end"))),
                opt(usage
                    .and_then(|u| u.precision("whenUsed.start").or(u.precision("occurrenceDateTime")))
                    .map(Value::from)),
                text(site.and_then(|s| s.code_in("", SNOMED))),
                side(site),
                keys.value(problem),
                local.org(usage.and_then(|u| {
                    u.ext(&format!("{SD}zib-MedicalDevice-Organization")).and_then(|e| e.reference("valueReference"))
                })),
                keys.value(usage.and_then(|u| u.reference("requester.agent"))),
                text(usage.and_then(|u| u.get("note.text")).or(device.get("note.text"))),
                yes_no(false),
            ],
        );
    }
}

fn coverage(t: &mut Tables, fixtures: &Fixtures, keys: &Keys, local: &Local) {
    for coverage in fixtures.of_type("Coverage") {
        let payor = coverage.first("payor");
        let payor_ref = payor.and_then(|p| p.get("reference"));
        let insurer = payor_ref.filter(|r| r.starts_with("Organization/"));
        let bank = payor.and_then(|p| p.ext(&format!("{SD}zib-Payer-BankInformation")));
        let bank_part = |url: &str| {
            bank.and_then(|b| b.each("extension").into_iter().find(|e| e.url.as_deref() == Some(url)))
                .and_then(|e| e.get("valueString"))
        };
        let kind = match insurer {
            Some(_) => coverage.get("type.coding.code").unwrap_or("B"),
            None => "Z",
        };
        let key = t.next_id("verzekering");
        identify(t, "verzekering", key, coverage);
        t.add(
            "verzekering",
            vec![
                Value::Int(key),
                keys.value(coverage.reference("beneficiary")),
                local.org(insurer),
                kind.into(),
                text(coverage.get("subscriberId")),
                date(coverage.date("period.start")),
                date(coverage.date("period.end")),
                text(bank_part("BankName")),
                text(bank_part("AccountNumber")),
                text(bank_part("Bankcode")),
                yes_no(false),
            ],
        );
    }
}

/// Treatment directives (soort B) and advance directives (W).
fn directives(t: &mut Tables, fixtures: &Fixtures, keys: &Keys) {
    for consent in fixtures.of_type("Consent") {
        let key = t.next_id("wilsverklaring");
        identify(t, "wilsverklaring", key, consent);
        let patient = keys.value(consent.reference("patient"));
        let row = if profile(consent) == "zib-TreatmentDirective" {
            let verification = consent.ext(&format!("{SD}zib-TreatmentDirective-Verification"));
            let part = |url: &str| {
                verification.and_then(|v| v.each("extension").into_iter().find(|e| e.url.as_deref() == Some(url)))
            };
            let treatment = consent.ext(&format!("{SD}zib-TreatmentDirective-Treatment"));
            let permitted = consent.ext(&format!("{SD}zib-TreatmentDirective-TreatmentPermitted"));
            let restriction = consent
                .first("except")
                .and_then(|e| ext_value(e, &format!("{SD}zib-TreatmentDirective-Restrictions"), "valueString"));
            vec![
                Value::Int(key),
                patient,
                "B".into(),
                local_value(TREATMENTS, treatment.and_then(|e| e.code_in("valueCodeableConcept", SNOMED))),
                text(permitted.and_then(|e| e.get("valueCodeableConcept.coding.code"))),
                text(restriction),
                Value::Null,
                Value::Null,
                date(consent.date("period.start").or(consent.date("dateTime"))),
                date(consent.date("period.end")),
                boolean(part("Verified").and_then(|e| e.get("valueBoolean"))),
                local_value(
                    VERIFIED_WITH,
                    part("VerifiedWith").and_then(|e| e.code_in("valueCodeableConcept", SNOMED)),
                ),
                date(part("VerificationDate").and_then(|e| e.date("valueDateTime"))),
                text(ext_value(consent, &format!("{SD}Comment"), "valueString")),
                yes_no(false),
            ]
        } else {
            let disorder =
                consent.ext(&format!("{SD}zib-AdvanceDirective-Disorder")).and_then(|e| e.reference("valueReference"));
            vec![
                Value::Int(key),
                patient,
                "W".into(),
                Value::Null,
                Value::Null,
                Value::Null,
                text(consent.code_in("category", "urn:oid:2.16.840.1.113883.2.4.3.11.60.40.4.14.1")),
                keys.value(disorder),
                date(consent.date("dateTime").or(consent.date("period.start"))),
                date(consent.date("period.end")),
                Value::Null,
                Value::Null,
                Value::Null,
                text(ext_value(consent, &format!("{SD}Comment"), "valueString")),
                yes_no(false),
            ]
        };
        t.add("wilsverklaring", row);
    }
}

/// A `meting` row: kind, when, waarde, waarde2, code, code2, start, end, remark, staff.
struct Meting<'a> {
    kind: &'a str,
    at: Option<NaiveDateTime>,
    values: [Value; 4],
    period: (Option<NaiveDate>, Option<NaiveDate>),
    remark: Option<&'a str>,
    staff: Value,
}

fn add_meting(t: &mut Tables, patient: Value, m: Meting<'_>, source: &Fixture) {
    let key = t.next_id("meting");
    identify(t, "meting", key, source);
    let [value, value2, code, code2] = m.values;
    t.add(
        "meting",
        vec![
            Value::Int(key),
            patient,
            m.kind.into(),
            timestamp(m.at),
            value,
            value2,
            code,
            code2,
            text(source.code_in("bodySite", SNOMED)),
            // The method (SNOMED CT), or for a body height measured standing its LOINC code.
            text(source.code_in("method", SNOMED).or_else(|| {
                source.each("code.coding").iter().any(|c| c.get("code") == Some("8308-9")).then_some("STAAND")
            })),
            date(m.period.0),
            date(m.period.1),
            opt(source.precision("effectivePeriod.start").map(Value::from)),
            opt(source.precision("effectivePeriod.end").map(Value::from)),
            text(m.remark),
            m.staff,
            yes_no(false),
        ],
    );
}

/// The component of an observation with this code.
fn component<'a>(o: &'a Fixture, system: &str, code: &str) -> Option<&'a Element> {
    o.each("component").into_iter().find(|c| c.code_in("code", system) == Some(code))
}

fn observations(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys) {
    for o in fixtures.of_type("Observation") {
        let patient = keys.value(o.reference("subject"));
        // When it was observed or recorded; a period (since 1980) is not a moment.
        let at = o.datetime("effectiveDateTime").or(o.datetime("issued"));
        let period = (o.date("effectivePeriod.start"), o.date("effectivePeriod.end"));
        let staff = keys.value(o.reference("performer"));
        let value_code = |system: &str| o.code_in("valueCodeableConcept", system);
        let part_code = |code: &str, system: &str| {
            component(o, SNOMED, code).and_then(|c| c.code_in("valueCodeableConcept", system))
        };
        let part_value = |code: &str| component(o, SNOMED, code).and_then(|c| c.get("valueQuantity.value"));
        let remark = o.get("comment");
        let none = (None, None);
        let m = match profile(o) {
            "zib-BloodPressure" => {
                let quantity = |code: &str| component(o, LOINC, code).and_then(|c| c.get("valueQuantity.value"));
                let coded =
                    |code: &str| component(o, LOINC, code).and_then(|c| c.get("valueCodeableConcept.coding.code"));
                Meting {
                    kind: "RR",
                    at,
                    values: [
                        comma(quantity("8480-6")),
                        comma(quantity("8462-4")),
                        text(coded("8358-4")),
                        local_value(POSITIONS, coded("8361-8")),
                    ],
                    period: none,
                    remark,
                    staff,
                }
            }
            "zib-BodyWeight" => {
                let clothing = component(o, LOINC, "8352-7").and_then(|c| c.get("valueCodeableConcept.coding.code"));
                Meting {
                    kind: "GEW",
                    at,
                    values: [comma(o.get("valueQuantity.value")), Value::Null, text(clothing), Value::Null],
                    period: none,
                    remark,
                    staff,
                }
            }
            "zib-BodyHeight" => Meting {
                kind: "LEN",
                at,
                values: [comma(o.get("valueQuantity.value")), Value::Null, Value::Null, Value::Null],
                period: none,
                remark,
                staff,
            },
            "zib-TobaccoUse" => Meting {
                kind: "TAB",
                at,
                values: [
                    comma(part_value("266918002")),
                    comma(part_value("401201003")),
                    local_value(TOBACCO, value_code(SNOMED)),
                    local_value(TOBACCO_KINDS, part_code("53661000146106", SNOMED)),
                ],
                period,
                remark,
                staff,
            },
            "zib-AlcoholUse" => Meting {
                kind: "ALC",
                at,
                values: [
                    comma(part_value("160573003")),
                    Value::Null,
                    local_value(ALCOHOL, value_code(SNOMED)),
                    Value::Null,
                ],
                period,
                remark,
                staff,
            },
            "zib-DrugUse" => Meting {
                kind: "DRG",
                at,
                values: [
                    text(component(o, SNOMED, "228390007").and_then(|c| c.get("valueString"))),
                    Value::Null,
                    local_value(DRUGS, value_code(SNOMED)),
                    local_value(DRUG_KINDS, part_code("410942007", SNOMED)),
                ],
                period,
                remark,
                staff,
            },
            "zib-LivingSituation" => Meting {
                kind: "WON",
                at,
                values: [Value::Null, Value::Null, text(o.get("valueCodeableConcept.coding.code")), Value::Null],
                period: none,
                remark,
                staff,
            },
            "zib-FunctionalOrMentalStatus" => Meting {
                kind: "FUN",
                at,
                values: [
                    Value::Null,
                    Value::Null,
                    text(value_code(SNOMED)),
                    local_value(FUNCTIONS, o.code_in("code", SNOMED)),
                ],
                period,
                remark,
                staff,
            },
            "zib-LaboratoryTestResult-Observation" => {
                shared::lab_result(t, fixtures, o, keys, Value::Null, Value::Null);
                continue;
            }
            _ => continue,
        };
        add_meting(t, patient, m, o);
    }
}

fn nutrition_and_alerts(t: &mut Tables, fixtures: &Fixtures, keys: &Keys) {
    for advice in fixtures.of_type("NutritionOrder") {
        let key = t.next_id("voedingsadvies");
        identify(t, "voedingsadvies", key, advice);
        t.add(
            "voedingsadvies",
            vec![
                Value::Int(key),
                keys.value(advice.reference("patient")),
                advice
                    .get("oralDiet.type.text")
                    .or(advice.get("oralDiet.type.coding.display"))
                    .unwrap_or("Dieet")
                    .into(),
                text(advice.get("oralDiet.fluidConsistencyType.text")),
                text(ext_value(advice, &format!("{SD}zib-NutritionAdvice-Explanation"), "valueString")),
                (if matches!(advice.get("status"), Some("completed" | "cancelled")) { "B" } else { "A" }).into(),
                date(advice.date("dateTime")),
                Value::Null,
                keys.value(advice.reference("orderer")),
                yes_no(false),
            ],
        );
    }
    for flag in fixtures.of_type("Flag") {
        let key = t.next_id("waarschuwing");
        identify(t, "waarschuwing", key, flag);
        t.add(
            "waarschuwing",
            vec![
                Value::Int(key),
                keys.value(flag.reference("subject")),
                to_local(ALERT_KINDS, flag.code_in("category", LOINC)).unwrap_or("W").into(),
                text(flag.code_in("code", SNOMED)),
                flag.get("code.coding.display").or(flag.get("code.text")).unwrap_or("Alert").into(),
                (if flag.get("status") == Some("inactive") { "I" } else { "A" }).into(),
                date(flag.date("period.start")),
                date(flag.date("period.end")),
                keys.value(flag.reference("author")),
                yes_no(false),
            ],
        );
    }
}

/// The dosage columns shared by prescriptions, use and agreements: text, times a day, amount,
/// route (G-Standaard table 7).
struct Dosage {
    text: Value,
    frequency: Value,
    amount: Value,
    route: Value,
    as_needed: bool,
}

fn dosage(d: Option<&Element>) -> Dosage {
    Dosage {
        text: text(d.and_then(|d| d.get("text"))),
        frequency: integer(d.and_then(|d| d.get("timing.repeat.frequency"))),
        amount: comma(d.and_then(|d| d.get("doseQuantity.value"))),
        route: text(d.and_then(|d| d.code_in("route", "urn:oid:2.16.840.1.113883.2.4.4.9"))),
        as_needed: d
            .is_some_and(|d| d.first("asNeededCodeableConcept").is_some() || d.get("asNeededBoolean") == Some("true")),
    }
}

fn medication(t: &mut Tables, fixtures: &Fixtures, keys: &mut Keys, local: &Local) {
    shared::products(t, fixtures, keys);
    for request in fixtures.of_type("MedicationRequest") {
        let Some(medicine) = keys.get(request.reference("medicationReference")) else { continue };
        shared::prescription(t, request, keys, medicine, Value::Null, Value::Null);
    }
    let roles: Vec<&Fixture> = fixtures.of_type("PractitionerRole").collect();
    for usage in fixtures.of_type("MedicationStatement") {
        let Some(medicine) = keys.get(usage.reference("medicationReference")) else { continue };
        // The prescriber is a practitioner role: the legacy table keeps its practitioner.
        let prescriber =
            usage.ext(&format!("{SD}zib-MedicationUse-Prescriber")).and_then(|e| e.reference("valueReference"));
        let prescriber = prescriber
            .and_then(|r| roles.iter().find(|role| role.literal_reference() == r))
            .and_then(|role| role.reference("practitioner"))
            .or(prescriber);
        let source = match usage.reference("informationSource") {
            Some(r) if r.starts_with("Patient/") => "P",
            _ => "H",
        };
        let d = dosage(usage.first("dosage"));
        let key = t.next_id("medicatiegebruik");
        identify(t, "medicatiegebruik", key, usage);
        t.add(
            "medicatiegebruik",
            vec![
                Value::Int(key),
                keys.value(usage.reference("subject")),
                Value::Int(medicine),
                (if matches!(usage.get("status"), Some("completed" | "stopped")) { "G" } else { "A" }).into(),
                opt(usage.get("taken").map(|taken| yes_no(taken == "y"))),
                boolean(ext_value(usage, &format!("{SD}zib-MedicationUse-AsAgreedIndicator"), "valueBoolean")),
                date(usage.date("effectivePeriod.start")),
                date(usage.date("effectivePeriod.end")),
                d.text,
                d.frequency,
                d.amount,
                d.route,
                source.into(),
                keys.value(prescriber),
                timestamp(usage.datetime("dateAsserted")),
                text(usage.get("note.text")),
                yes_no(false),
            ],
        );
    }
    for agreement in fixtures.of_type("MedicationDispense") {
        let Some(medicine) = keys.get(agreement.reference("medicationReference")) else { continue };
        let d = dosage(agreement.first("dosageInstruction"));
        let period = agreement.ext(&format!("{SD}zib-Medication-PeriodOfUse"));
        let days = agreement
            .ext(&format!("{SD}zib-MedicationUse-Duration"))
            .and_then(|e| e.get("valueDuration.value"))
            .and_then(|v| v.parse::<i64>().ok());
        let key = t.next_id("toedieningsafspraak");
        identify(t, "toedieningsafspraak", key, agreement);
        t.add(
            "toedieningsafspraak",
            vec![
                Value::Int(key),
                keys.value(agreement.reference("subject")),
                Value::Int(medicine),
                local.org(agreement.reference("performer.actor")),
                timestamp(
                    agreement
                        .ext(&format!("{SD}zib-AdministrationAgreement-AuthoredOn"))
                        .and_then(|e| e.datetime("valueDateTime")),
                ),
                date(period.and_then(|p| p.date("valuePeriod.start"))),
                opt(days.map(Value::Int)),
                d.text,
                d.frequency,
                d.amount,
                yes_no(d.as_needed),
                d.route,
                to_local(DISPENSE_STATUS, agreement.get("status")).unwrap_or("A").into(),
                yes_no(false),
            ],
        );
    }
}

/// Vaccinations given (status G) and recommended (A).
fn vaccinations(t: &mut Tables, fixtures: &Fixtures, keys: &Keys) {
    let atc = "http://www.whocc.no/atc";
    for given in fixtures.of_type("Immunization") {
        let Some(code) = given.code_in("vaccineCode", atc) else { continue };
        let key = t.next_id("vaccinatie");
        identify(t, "vaccinatie", key, given);
        t.add(
            "vaccinatie",
            vec![
                Value::Int(key),
                keys.value(given.reference("patient")),
                code.into(),
                given.get("vaccineCode.coding.display").or(given.get("vaccineCode.text")).unwrap_or(code).into(),
                "G".into(),
                date(given.date("date")),
                integer(given.get("vaccinationProtocol.doseSequence")),
                keys.value(given.reference("practitioner.actor")),
                opt(given.get("primarySource").map(|p| yes_no(p == "true"))),
                text(given.get("note.text")),
                yes_no(false),
            ],
        );
    }
    for advice in fixtures.of_type("ImmunizationRecommendation") {
        for recommendation in advice.each("recommendation") {
            let Some(code) = recommendation.code_in("vaccineCode", atc) else { continue };
            let due = recommendation
                .each("dateCriterion")
                .into_iter()
                .find_map(|c| c.date("value"))
                .or(recommendation.date("date"));
            let key = t.next_id("vaccinatie");
            identify(t, "vaccinatie", key, advice);
            t.add(
                "vaccinatie",
                vec![
                    Value::Int(key),
                    keys.value(advice.reference("patient")),
                    code.into(),
                    recommendation.get("vaccineCode.coding.display").unwrap_or(code).into(),
                    "A".into(),
                    date(due),
                    integer(recommendation.get("doseNumber")),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    yes_no(false),
                ],
            );
        }
    }
}

/// Procedures done (status U) and planned (P; X when cancelled).
fn procedures(t: &mut Tables, fixtures: &Fixtures, keys: &Keys, local: &Local) {
    let done = fixtures.of_type("Procedure").map(|p| (p, true));
    let planned = fixtures.of_type("ProcedureRequest").map(|p| (p, false));
    for (procedure, is_done) in done.chain(planned) {
        let Some(code) = procedure.code_in("code", SNOMED) else { continue };
        let status = match (is_done, procedure.get("status")) {
            (true, _) => "U",
            (false, Some("cancelled" | "revoked" | "entered-in-error")) => "X",
            (false, _) => "P",
        };
        let site = procedure.first("bodySite");
        let (performer, start, end) = if is_done {
            (
                procedure.reference("performer.actor"),
                procedure.date("performedPeriod.start").or(procedure.date("performedDateTime")),
                procedure.date("performedPeriod.end"),
            )
        } else {
            (
                procedure.reference("performer"),
                procedure.date("occurrencePeriod.start").or(procedure.date("occurrenceDateTime")),
                None,
            )
        };
        let (org, staff) = match performer {
            Some(r) if r.starts_with("Organization/") => (local.org(Some(r)), Value::Null),
            other => (Value::Null, keys.value(other)),
        };
        let key = t.next_id("verrichting");
        identify(t, "verrichting", key, procedure);
        t.add(
            "verrichting",
            vec![
                Value::Int(key),
                keys.value(procedure.reference("subject")),
                code.into(),
                procedure.get("code.coding.display").or(procedure.get("code.text")).unwrap_or(code).into(),
                local_value(PROCEDURE_KINDS, procedure.code_in("category", SNOMED)),
                status.into(),
                date(start),
                date(end),
                text(site.and_then(|s| s.code_in("", SNOMED))),
                side(site),
                keys.value(procedure.reference("reasonReference")),
                keys.value(procedure.reference("focalDevice.manipulated")),
                org,
                staff,
                yes_no(false),
            ],
        );
    }
}

fn encounters(t: &mut Tables, fixtures: &Fixtures, keys: &Keys, local: &Local) {
    for encounter in fixtures.of_type("Encounter") {
        let Some(kind) = to_local(ENCOUNTER_CLASSES, encounter.get("class.code")) else { continue };
        // The legacy table keeps a problem as the reason; a procedure there is left out.
        let diagnosis = encounter.reference("diagnosis.condition").filter(|r| r.starts_with("Condition/"));
        let key = t.next_id("opname");
        identify(t, "opname", key, encounter);
        t.add(
            "opname",
            vec![
                Value::Int(key),
                keys.value(encounter.reference("subject")),
                local.org(encounter.reference("serviceProvider")),
                kind.into(),
                timestamp(encounter.datetime("period.start")),
                timestamp(encounter.datetime("period.end")),
                keys.value(diagnosis),
                text(encounter.get("reason.text")),
                yes_no(false),
            ],
        );
    }
}

fn appointments(t: &mut Tables, fixtures: &Fixtures, keys: &Keys, local: &Local) {
    let mut located = std::collections::HashSet::new();
    for appointment in fixtures.of_type("Appointment") {
        let actors: Vec<&str> =
            appointment.each("participant.actor").into_iter().filter_map(|a| a.get("reference")).collect();
        let patient = actors.iter().find(|r| r.starts_with("Patient/")).copied();
        let staff = actors.iter().find(|r| r.starts_with("Practitioner/")).copied();
        // A location stands for its organisation's outpatient clinic; its identifier is kept
        // for that organisation (kenmerk locatie).
        let place = actors.iter().find(|r| r.starts_with("Location/")).and_then(|r| fixtures.get(r));
        let location = place.and_then(|l| l.reference("managingOrganization"));
        if let (Some(place), Some(org)) = (place, local.orgs.get(location.unwrap_or_default())) {
            if located.insert(*org) {
                identify(t, "locatie", *org, place);
            }
        }
        let key = t.next_id("afspraak");
        identify(t, "afspraak", key, appointment);
        t.add(
            "afspraak",
            vec![
                Value::Int(key),
                keys.value(patient),
                local.org(location),
                keys.value(staff),
                text(appointment.get("description")),
                timestamp(appointment.datetime("start")),
                timestamp(appointment.datetime("end")),
                to_local(APPOINTMENT_STATUS, appointment.get("status")).unwrap_or("B").into(),
                yes_no(false),
            ],
        );
    }
}
