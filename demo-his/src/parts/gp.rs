//! The GP system's part of a generated record: the practice and its staff, and per patient
//! the registration, episodes, contacts with their SOEP journal, lab results, prescriptions and
//! allergies.

use super::Patient;
use crate::options::GeneratorOptions;
use crate::tables::{at, blank_null, opt, yes_no, Rng, Tables};
use chrono::{Duration, NaiveDate};
use dva_source_api::Value;

const FAMILY: &[(&str, &str)] = &[
    ("", "Jansen"),
    ("de", "Vries"),
    ("van den", "Berg"),
    ("", "Bakker"),
    ("van", "Dijk"),
    ("", "Visser"),
    ("", "Smit"),
    ("", "Meijer"),
    ("de", "Boer"),
    ("", "Mulder"),
    ("de", "Groot"),
    ("", "Bos"),
    ("", "Vos"),
    ("", "Peters"),
    ("", "Hendriks"),
    ("van", "Leeuwen"),
    ("", "Dekker"),
    ("", "Brouwer"),
    ("de", "Wit"),
    ("", "Dijkstra"),
    ("", "Smits"),
    ("de", "Graaf"),
];
const GIVEN_F: &[&str] =
    &["Anna", "Emma", "Sophie", "Maria", "Johanna", "Fenna", "Lotte", "Sanne", "Noor", "Wilhelmina", "Fatima", "Aylin"];
const GIVEN_M: &[&str] =
    &["Jan", "Pieter", "Hendrik", "Daan", "Sem", "Lucas", "Mohamed", "Cornelis", "Willem", "Bram", "Thijs", "Yusuf"];
const STREETS: &[&str] = &[
    "Dorpsstraat",
    "Kerkstraat",
    "Molenweg",
    "Schoolstraat",
    "Stationsweg",
    "Lindenlaan",
    "Beukenlaan",
    "Julianastraat",
];
const CITIES: &[&str] = &["Utrecht", "Amersfoort", "Zeist", "Houten", "Nieuwegein", "Bunnik", "De Bilt", "Maarssen"];

/// ICPC code, episode title, SOEP texts (S, O, E, P).
const COMPLAINTS: &[(&str, &str, [&str; 4])] = &[
    (
        "K86",
        "Hypertensie zonder orgaanbeschadiging",
        [
            "Controle bloeddruk, geen klachten",
            "RR 150/95, pols regulair",
            "Hypertensie, nog niet goed ingesteld",
            "Dosis verhogen, controle over 4 weken",
        ],
    ),
    (
        "T90",
        "Diabetes mellitus type 2",
        [
            "Kwartaalcontrole DM, voelt zich goed",
            "Voeten geen bijzonderheden",
            "DM2, redelijk gereguleerd",
            "Lab aanvragen, leefstijladvies",
        ],
    ),
    (
        "R96",
        "Astma",
        [
            "Meer benauwd bij inspanning",
            "Lichte expiratoire wheeze",
            "Astma, matig onder controle",
            "Inhalatietechniek besproken",
        ],
    ),
    (
        "L03",
        "Lage rugpijn zonder uitstraling",
        [
            "Sinds 3 dagen pijn onderrug na tillen",
            "Paravertebrale spierspanning, geen uitval",
            "Aspecifieke lage rugpijn",
            "Blijven bewegen, pijnstilling zo nodig",
        ],
    ),
    (
        "D02",
        "Maagpijn",
        [
            "Branderig gevoel bovenbuik na eten",
            "Drukpijn epigastrio",
            "Functionele maagklachten",
            "Proefbehandeling maagzuurremmer",
        ],
    ),
    (
        "K78",
        "Boezemfibrilleren/-fladderen",
        ["Vannacht hartkloppingen", "Pols irregulair, 110/min", "Boezemfibrilleren", "ECG en verwijzing cardioloog"],
    ),
    (
        "S74",
        "Dermatomycose",
        ["Jeukende plek lies", "Schilferende rand, centrale opheldering", "Dermatomycose", "Miconazolcreme 2 dd"],
    ),
    (
        "R74",
        "Acute infectie bovenste luchtwegen",
        [
            "Verkouden, keelpijn, geen koorts",
            "Keel rood, geen beslag",
            "Virale bovenste luchtweginfectie",
            "Uitleg natuurlijk beloop",
        ],
    ),
];

/// The naming system of the lab's result numbers (below the test root of this system's ids).
const LAB_NUMBERS: &str = "urn:oid:2.16.840.1.113883.2.4.3.11.999.7.8";

/// A test of the practice's table (bepaling).
type Test = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// NHG table 45 code, description, unit (UCUM), LOINC, low, high, material (BLD blood, URI
/// urine; empty for a measurement in the practice, which has no specimen), the unit as
/// written, the LOINC code's name.
const TESTS: &[Test] = &[
    (
        "3208",
        "glucose nuchter, art/cap (lab)",
        "mmol/L",
        "1558-6",
        "3,5",
        "5,6",
        "BLD",
        "mmol/L",
        "Fasting glucose [Moles/volume] in Serum or Plasma",
    ),
    ("382", "Hb (hemoglobine)", "mmol/L", "718-7", "7,5", "10,0", "BLD", "mmol/L", "Hemoglobin [Mass/volume] in Blood"),
    (
        "2431",
        "kreatinine (bloed)",
        "umol/L",
        "14682-9",
        "60",
        "110",
        "BLD",
        "umol/L",
        "Creatinine [Moles/volume] in Serum or Plasma",
    ),
    (
        "2856",
        "HbA1c (IFCC)",
        "mmol/mol",
        "59261-8",
        "20",
        "42",
        "BLD",
        "mmol/mol",
        "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol",
    ),
    (
        "1780",
        "cholesterol totaal",
        "mmol/L",
        "2093-3",
        "",
        "5,0",
        "BLD",
        "mmol/L",
        "Cholesterol [Mass/volume] in Serum or Plasma",
    ),
    (
        "3213",
        "kalium (bloed)",
        "mmol/L",
        "2823-3",
        "3,5",
        "5,0",
        "BLD",
        "mmol/L",
        "Potassium [Moles/volume] in Serum or Plasma",
    ),
    ("1744", "systolische bloeddruk", "mm[Hg]", "8480-6", "90", "140", "", "mmHg", "Systolic blood pressure"),
    ("1743", "diastolische bloeddruk", "mm[Hg]", "8462-4", "60", "90", "", "mmHg", "Diastolic blood pressure"),
    ("2063", "nitriet (urine, stick)", "", "5802-4", "", "", "URI", "", "Nitrite [Presence] in Urine by Test strip"),
];

/// A medicine of the practice's table (middel) with how it is usually prescribed.
type Medicine = (i64, i64, i64, &'static str, &'static str, &'static str, i64, &'static str);

/// HPK, PRK and GPK codes, name, form, dosage text, times per day, units a time (as the text says).
const MEDICINES: &[Medicine] = &[
    (1561294, 40118, 51004, "IBUPROFEN TABLET 400MG", "TABLET", "3 maal daags 1 tablet zo nodig", 3, "1"),
    (2364190, 90001, 2194, "PARACETAMOL TABLET 500MG", "TABLET", "4 maal daags 2 tabletten zo nodig", 4, "2"),
    (1898981, 44334, 22411, "OMEPRAZOL CAPSULE MSR 20MG", "CAPSULE", "1 maal daags 1 capsule", 1, "1"),
    (1611526, 18376, 17175, "METFORMINE TABLET 500MG", "TABLET", "2 maal daags 1 tablet", 2, "1"),
    (2047799, 23027, 23795, "SIMVASTATINE TABLET 40MG", "TABLET", "1 maal daags 1 tablet 's avonds", 1, "1"),
    (1398474, 10685, 12246, "AMOXICILLINE CAPSULE 500MG", "CAPSULE", "3 maal daags 1 capsule", 3, "1"),
    (2242311, 25208, 26913, "SALBUTAMOL AEROSOL 100UG/DO", "AEROSOL", "zo nodig 4 maal daags 2 inhalaties", 4, "2"),
    (1470728, 20907, 20974, "LISINOPRIL TABLET 10MG", "TABLET", "1 maal daags 1 tablet", 1, "1"),
];

/// Category, code system (G = G-Standaard stofnaam, S = SNOMED), code, description.
const ALLERGENS: &[(&str, &str, i64, &str)] = &[
    ("M", "G", 4170, "Prednisolon"),
    ("M", "G", 2208, "Amoxicilline"),
    ("M", "G", 1627, "Diclofenac"),
    ("V", "S", 762952008, "Pinda"),
    ("O", "S", 256277009, "Graspollen"),
];
const REACTIONS: &[(&str, &str)] =
    &[("271807003", "Huiduitslag"), ("39579001", "Anafylaxie"), ("267036007", "Kortademigheid"), ("418290006", "Jeuk")];

const DOCTORS: &[i64] = &[11, 12, 13, 14];

/// The practice, its staff, the lab tests and the medicines: rows every patient refers to.
pub(crate) fn reference_data(t: &mut Tables) {
    t.add(
        "praktijk",
        vec![
            Value::Int(1),
            "Huisartsenpraktijk De Linde".into(),
            "01050505".into(),
            "00003333".into(),
            "030-1234567".into(),
            "Lindenlaan".into(),
            "12".into(),
            "3511AB".into(),
            "Utrecht".into(),
            "LL".into(),
            "6030".into(),
            "PHYS".into(),
        ],
    );
    let staff: &[(i64, &str, &str, &str, &str, &str, &str)] = &[
        (11, "01001101", "B.", "", "Bernard", "HA", "M"),
        (12, "01001102", "E.M.", "van", "Oosten", "HA", "V"),
        (13, "01001103", "K.", "", "Yilmaz", "HA", "V"),
        (14, "01001104", "P.J.", "de", "Haan", "HA", "M"),
        (15, "", "S.", "", "Koster", "PO", "V"),
        (16, "", "L.", "", "Brink", "AS", "V"),
    ];
    for (id, agb, initials, prefix, name, role, sex) in staff {
        t.add(
            "medewerker",
            vec![
                Value::Int(*id),
                Value::Int(1),
                blank_null(agb),
                Value::Null,
                (*initials).into(),
                Value::Null,
                blank_null(prefix),
                (*name).into(),
                (*role).into(),
                // The GPs' Vektis specialism: huisartsen.
                opt((*role == "HA").then(|| Value::from("0100"))),
                "030-1234567".into(),
                "LL".into(),
                Value::Null,
                (*sex).into(),
                // They work at the practice's address.
                "Lindenlaan".into(),
                "12".into(),
                "3511AB".into(),
                "Utrecht".into(),
                "6030".into(),
                "PHYS".into(),
                yes_no(false),
            ],
        );
    }
    // A former colleague, soft-deleted: must never be served.
    t.add(
        "medewerker",
        vec![
            Value::Int(17),
            Value::Int(1),
            "01001199".into(),
            Value::Null,
            "X.".into(),
            Value::Null,
            "".into(),
            "Vertrokken".into(),
            "HA".into(),
            "0100".into(),
            Value::Null,
            Value::Null,
            Value::Null,
            "M".into(),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            yes_no(true),
        ],
    );
    for (code, name, unit, loinc, low, high, material, unit_text, loinc_name) in TESTS {
        // Without a material it is measured in the practice: a vital sign.
        let kind = if material.is_empty() { "V" } else { "L" };
        let row = [*code, *name, *unit, *unit_text, *loinc, *loinc_name, *low, *high, *material, kind];
        t.add("bepaling", row.iter().map(|v| blank_null(v)).collect());
    }
    for (hpk, prk, gpk, name, form, ..) in MEDICINES {
        t.add("middel", vec![Value::Int(*hpk), Value::Int(*prk), Value::Int(*gpk), (*name).into(), (*form).into()]);
    }
}

/// The last id given out per table, across patients.
#[derive(Default)]
pub(crate) struct Ids {
    episode: i64,
    contact: i64,
    regel: i64,
    lab: i64,
    voorschrift: i64,
    allergie: i64,
    reactie: i64,
    contactpersoon: i64,
}

/// The GP record of patient `i`; what the other parts need of it comes back.
pub(crate) fn patient(t: &mut Tables, ids: &mut Ids, opts: &GeneratorOptions, i: u32) -> Patient {
    let mut rng = Rng(opts.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ u64::from(i));
    let pat_id = 1000 + i64::from(i);
    let female = rng.chance(52);
    let (prefix, family) = *rng.pick(FAMILY);
    let given = if female { *rng.pick(GIVEN_F) } else { *rng.pick(GIVEN_M) };
    let born = opts.anchor - Duration::days(rng.range(18 * 365, 90 * 365));
    let gp = *rng.pick(DOCTORS);
    let city = *rng.pick(CITIES);
    let house = rng.range(1, 180).to_string();
    let postcode = format!(
        "{}{}{}",
        rng.range(3500, 3999),
        (b'A' + rng.range(0, 25) as u8) as char,
        (b'A' + rng.range(0, 25) as u8) as char
    );
    let sex = if female {
        "V"
    } else if rng.chance(2) {
        "O"
    } else {
        "M"
    };
    let phone = rng.chance(85).then(|| Value::from(format!("06-{:08}", rng.range(10_000_000, 99_999_999))));
    let email =
        rng.chance(60).then(|| Value::from(format!("{}.{}@example.nl", given.to_lowercase(), family.to_lowercase())));
    let registered = opts.anchor - Duration::days(rng.range(30, 20 * 365));
    // Now and then a woman goes by her partner's name, before or after her own (drawn from
    // the patient number, so the random stream of the record stays as it was).
    let (partner_prefix, partner) = FAMILY[(i as usize / 9) % FAMILY.len()];
    let usage = if female && i % 9 == 4 && partner != family { ["V", "N", "P"][(i as usize / 9) % 3] } else { "E" };
    let partner = (usage != "E").then_some((partner_prefix, partner));
    let patient_row = |id: i64, deleted: bool, rng: &mut Rng| {
        vec![
            Value::Int(id),
            crate::bsn::nth(i).into(),
            family.into(),
            blank_null(prefix),
            given.into(),
            format!("{}.", &given[..1]).into(),
            given.into(),
            opt(partner.and_then(|(prefix, _)| (!prefix.is_empty()).then(|| Value::from(prefix)))),
            opt(partner.map(|(_, name)| Value::from(name))),
            usage.into(),
            sex.into(),
            Value::Date(born),
            (*rng.pick(STREETS)).into(),
            house.clone().into(),
            postcode.clone().into(),
            city.into(),
            "6030".into(),
            "PHYS".into(),
            opt(phone.clone()),
            opt(phone.as_ref().map(|_| Value::from("MC"))),
            opt(email.clone()),
            // Going by a partner's name: married (drawn from the name, as above).
            opt(partner.map(|_| Value::from("M"))),
            yes_no(false),
            yes_no(false),
            Value::Int(gp),
            Value::Date(registered),
            yes_no(deleted),
        ]
    };
    t.add("patient", patient_row(pat_id, false, &mut rng));
    // A woman who goes by her partner's name has him as her first contact person (he lives at
    // her address, which is not repeated); every seventh other patient has a daughter living
    // elsewhere (drawn from the patient number, as above).
    let n = i as usize;
    let contact = match partner {
        Some((prefix, name)) => Some(("HUSB", GIVEN_M[n % GIVEN_M.len()], prefix, name, false)),
        None if i % 7 == 0 => Some(("DAU", GIVEN_F[n % GIVEN_F.len()], prefix, family, true)),
        None => None,
    };
    if let Some((relation, first, own_prefix, own, elsewhere)) = contact {
        ids.contactpersoon += 1;
        let address = |v: Value| if elsewhere { v } else { Value::Null };
        t.add(
            "contactpersoon",
            vec![
                Value::Int(ids.contactpersoon),
                Value::Int(pat_id),
                "1".into(),
                relation.into(),
                own.into(),
                blank_null(own_prefix),
                first.into(),
                format!("{}.", &first[..1]).into(),
                first.into(),
                Value::Null,
                Value::Null,
                "E".into(),
                format!("06-{:08}", 20_000_000 + i64::from(i)).into(),
                "MC".into(),
                Value::Null,
                address(STREETS[n % STREETS.len()].into()),
                address((n % 90 + 1).to_string().into()),
                address(format!("{}AB", 3500 + n % 400).into()),
                address(CITIES[n % CITIES.len()].into()),
                address("6030".into()),
                address("PHYS".into()),
                yes_no(false),
            ],
        );
    }
    // Every tenth patient also has an old, soft-deleted record with the same BSN: the lookup
    // must still find exactly one.
    if i % 10 == 3 {
        t.add("patient", patient_row(500_000 + pat_id, true, &mut rng));
    }

    // Episodes: the patient's problems.
    let mut episodes = Vec::new();
    for _ in 0..rng.range(1, 6) {
        ids.episode += 1;
        let complaint = rng.range(0, COMPLAINTS.len() as i64 - 1) as usize;
        let start = opts.anchor - Duration::days(rng.range(30, 6 * 365));
        let ended = rng.chance(40);
        let end = ended.then(|| start + Duration::days(rng.range(7, 400))).filter(|e| *e < opts.anchor);
        let (code, title, _) = COMPLAINTS[complaint];
        // The first episode is never deleted: contacts need one to belong to.
        let deleted = !episodes.is_empty() && rng.chance(5);
        t.add(
            "episode",
            vec![
                Value::Int(ids.episode),
                Value::Int(pat_id),
                code.into(),
                title.into(),
                title.into(),
                (if code.starts_with('L') || code.starts_with('R') { "K" } else { "D" }).into(),
                Value::Date(start),
                opt(end.map(Value::Date)),
                (if end.is_some() { "B" } else { "A" }).into(),
                // Atrial fibrillation and diabetes are alerts for whoever treats the patient.
                yes_no(matches!(code, "K78" | "T90")),
                opt(matches!(code, "K78" | "T90").then_some(Value::Date(start))),
                Value::Null,
                Value::Int(gp),
                yes_no(deleted),
            ],
        );
        if !deleted {
            episodes.push((ids.episode, complaint, start));
        }
    }

    // Contacts with their SOEP journal lines.
    let mut contacts = Vec::new();
    for _ in 0..rng.range(2, 20) {
        ids.contact += 1;
        let (episode, complaint, _) = *rng.pick(&episodes);
        let day = opts.anchor - Duration::days(rng.range(1, 3 * 365));
        let minutes = rng.range(8 * 60, 17 * 60);
        let doctor = if rng.chance(80) { gp } else { *rng.pick(&[12, 13, 15]) };
        let kind = *rng.pick(&["03", "03", "03", "04", "04", "01", "09"]);
        let deleted = rng.chance(4);
        t.add(
            "contact",
            vec![
                Value::Int(ids.contact),
                Value::Int(pat_id),
                Value::Int(episode),
                Value::Int(doctor),
                kind.into(),
                at(day, minutes),
                Value::Null,
                at(day, minutes + rng.range(5, 20)),
                yes_no(deleted),
            ],
        );
        if deleted {
            continue;
        }
        contacts.push((ids.contact, episode, doctor, day, minutes));
        let (code, title, lines) = COMPLAINTS[complaint];
        for (soep, text) in ["S", "O", "E", "P"].iter().zip(lines) {
            if rng.chance(85) {
                ids.regel += 1;
                t.add(
                    "journaalregel",
                    vec![
                        Value::Int(ids.regel),
                        Value::Int(ids.contact),
                        Value::Int(pat_id),
                        Value::Int(episode),
                        (*soep).into(),
                        text.into(),
                        // The E line carries the episode's ICPC code.
                        opt((*soep == "E").then(|| Value::from(code))),
                        opt((*soep == "E").then(|| Value::from(title))),
                        yes_no(rng.chance(2)),
                    ],
                );
            }
        }
    }

    // Lab results: most in the last 14 months, some older; Dutch decimal commas.
    for n in 0..rng.range(3, 25) {
        ids.lab += 1;
        let test = rng.range(0, TESTS.len() as i64 - 1) as usize;
        let (code, ..) = TESTS[test];
        let days_ago = if n % 5 == 4 { rng.range(430, 5 * 365) } else { rng.range(1, 420) };
        let day = opts.anchor - Duration::days(days_ago);
        let result = lab_value(&mut rng, test);
        let contact = contacts.iter().find(|c| c.3 == day).map(|c| Value::Int(c.0));
        let episode = rng.chance(50).then(|| Value::Int(rng.pick(&episodes).0));
        let status = if rng.chance(95) { "D" } else { "V" };
        // A result from the lab carries the lab's own number, kept beside it.
        if !TESTS[test].6.is_empty() {
            let number = format!("{}-{:07}", day.format("%Y"), ids.lab);
            t.add("kenmerk", vec!["labuitslag".into(), Value::Int(ids.lab), LAB_NUMBERS.into(), number.into()]);
        }
        t.add(
            "labuitslag",
            vec![
                Value::Int(ids.lab),
                Value::Int(pat_id),
                opt(contact),
                opt(episode),
                Value::Int(gp),
                code.into(),
                opt(result.clone()),
                Value::Null,
                opt(flag(test, result.as_ref()).map(Value::from)),
                Value::Null,
                Value::Null,
                at(day, rng.range(7 * 60 + 30, 11 * 60)),
                Value::Null,
                status.into(),
                yes_no(rng.chance(3)),
            ],
        );
    }

    // Prescriptions: some still running past the anchor date.
    for _ in 0..rng.range(0, 5) {
        ids.voorschrift += 1;
        let medicine = rng.range(0, MEDICINES.len() as i64 - 1) as usize;
        let (hpk, _, _, _, form, dosage, per_day, units) = MEDICINES[medicine];
        let (contact, episode, doctor, day, minutes) = *rng.pick(&contacts_or_default(&contacts, gp, opts.anchor));
        let current = rng.chance(50);
        let end = if current {
            rng.chance(50).then(|| opts.anchor + Duration::days(rng.range(10, 180)))
        } else {
            Some(day + Duration::days(rng.range(5, 90)))
        };
        let status = if current { "A" } else { "G" };
        // The amount once came from this draw; it stays, so the rest of the record does too.
        let _ = rng.range(1, 2);
        t.add(
            "voorschrift",
            vec![
                Value::Int(ids.voorschrift),
                Value::Int(pat_id),
                opt(contact.map(Value::Int)),
                opt(episode.map(Value::Int)),
                Value::Int(doctor),
                Value::Int(hpk),
                dosage.into(),
                Value::Int(per_day),
                units.into(),
                // G-Standaard basiseenheid: an inhaler counts doses, the rest pieces.
                Value::Int(if form == "AEROSOL" { 208 } else { 245 }),
                (if form == "AEROSOL" { "Dosis" } else { "STUK" }).into(),
                Value::Int(1),
                "D".into(),
                yes_no(dosage.contains("zo nodig")),
                "9".into(),
                Value::Null,
                Value::Null,
                opt(end.map(|e| Value::Int((e - day).num_days()))),
                opt(end.map(|_| Value::from("D"))),
                Value::Date(day),
                opt(end.map(Value::Date)),
                at(day, minutes + 5),
                Value::Null,
                status.into(),
                yes_no(rng.chance(3)),
            ],
        );
    }

    // Allergies and their reactions.
    for _ in 0..rng.range(0, 2) {
        ids.allergie += 1;
        let (category, system, code, name) = *rng.pick(ALLERGENS);
        let noted = opts.anchor - Duration::days(rng.range(10, 10 * 365));
        let remark = rng.chance(30).then(|| Value::from("Geldt alleen voor dit merk"));
        // Drawn in the order the row once drew them, so the random stream stays as it was.
        let status = *rng.pick(&["A", "A", "I"]);
        let severity = rng.chance(80).then(|| Value::from(rng.range(1, 3).to_string()));
        t.add(
            "allergie",
            vec![
                Value::Int(ids.allergie),
                Value::Int(pat_id),
                Value::Int(code),
                system.into(),
                name.into(),
                category.into(),
                status.into(),
                opt(severity.clone()),
                // Known since some months before it was recorded (drawn from the key, so the
                // random stream stays as it was); last reacted when recorded.
                Value::Date(noted - Duration::days(30 * (ids.allergie % 12))),
                Value::Date(noted),
                at(noted, rng.range(8 * 60, 17 * 60)),
                opt(remark),
                Value::Int(gp),
                yes_no(false),
            ],
        );
        for _ in 0..rng.range(0, 2) {
            ids.reactie += 1;
            let (snomed, text) = *rng.pick(REACTIONS);
            t.add(
                "allergie_reactie",
                vec![
                    Value::Int(ids.reactie),
                    Value::Int(ids.allergie),
                    snomed.into(),
                    text.into(),
                    // To the allergen itself, as bad as the allergy is graded.
                    Value::Int(code),
                    system.into(),
                    name.into(),
                    Value::Null,
                    Value::Null,
                    opt(severity.clone()),
                ],
            );
        }
    }

    let name = format!("{given} {}", if prefix.is_empty() { family.to_string() } else { format!("{prefix} {family}") });
    Patient { index: i, pat_id, name, gp, contacts: contacts.iter().map(|c| (c.0, c.3)).collect() }
}

type ContactRef = (Option<i64>, Option<i64>, i64, NaiveDate, i64);

fn contacts_or_default(contacts: &[(i64, i64, i64, NaiveDate, i64)], gp: i64, anchor: NaiveDate) -> Vec<ContactRef> {
    if contacts.is_empty() {
        return vec![(None, None, gp, anchor - Duration::days(30), 9 * 60)];
    }
    contacts.iter().map(|c| (Some(c.0), Some(c.1), c.2, c.3, c.4)).collect()
}

/// The lab's flag on a result outside the test's reference range: H above, L below.
fn flag(test: usize, result: Option<&Value>) -> Option<&'static str> {
    let number = |s: &str| s.replace(',', ".").parse::<f64>().ok();
    let value = result.and_then(|v| v.to_text()).and_then(|t| number(&t))?;
    let (_, _, _, _, low, high, ..) = TESTS[test];
    if number(high).is_some_and(|h| value > h) {
        Some("H")
    } else if number(low).is_some_and(|l| value < l) {
        Some("L")
    } else {
        None
    }
}

/// A plausible result as the HIS stores it: text, with a decimal comma.
fn lab_value(rng: &mut Rng, test: usize) -> Option<Value> {
    let tenths = match TESTS[test].0 {
        "3208" => rng.range(38, 95),
        "382" => rng.range(68, 105),
        "2431" => return Some(rng.range(50, 140).to_string().into()),
        "2856" => return Some(rng.range(30, 75).to_string().into()),
        "1780" => rng.range(35, 75),
        "3213" => rng.range(32, 55),
        "1744" => return Some(rng.range(105, 185).to_string().into()),
        "1743" => return Some(rng.range(60, 105).to_string().into()),
        _ => return Some((if rng.chance(85) { "negatief" } else { "positief" }).into()),
    };
    Some(format!("{},{}", tenths / 10, tenths % 10).into())
}
