//! The BgZ (Basisgegevensset Zorg, zib2017) part of demo-his: what this GP system keeps beyond
//! its GP tables for the 28 BgZ requests, and the generated rows. The same legacy style as the
//! GP tables: Dutch names, local codes (translated by the code tables of
//! `mappings/demo-his/bgz/service.yaml`), local times without offset, soft deletes. Lab
//! results, allergies, prescriptions and medicines come from the GP tables. The mapping set's
//! README describes every table.
use super::PatientContext;
use crate::tables::{at, blank_null, opt, yes_no, Rng, Tables};
use chrono::{Datelike, Duration, NaiveDate};
use dva_source_api::Value;

/// This part's random stream (`Rng::for_patient`): independent of the GP part.
const SALT: u64 = 0xB62_2017;

/// An address-book entry.
struct Org {
    id: i64,
    name: &'static str,
    /// ZH ziekenhuis(afdeling), AP apotheek, ZV zorgverzekeraar.
    kind: &'static str,
    agb: &'static str,
    ura: &'static str,
    uzovi: &'static str,
    /// Vektis specialism (COD016).
    specialism: &'static str,
    phone: &'static str,
    street: &'static str,
    number: &'static str,
    postcode: &'static str,
    city: &'static str,
}

const fn hospital(id: i64, name: &'static str, agb: &'static str, specialism: &'static str) -> Org {
    Org {
        id,
        name,
        kind: "ZH",
        agb,
        ura: "00009001",
        uzovi: "",
        specialism,
        phone: "033-7001000",
        street: "Ziekenhuislaan",
        number: "1",
        postcode: "3818AA",
        city: "Amersfoort",
    }
}

/// Synthetic organisations; names, numbers and addresses are made up.
const ORGS: &[Org] = &[
    hospital(1, "Ziekenhuis Eemdal, Cardiologie", "06010001", "0320"),
    hospital(2, "Ziekenhuis Eemdal, Chirurgie", "06010002", "0303"),
    hospital(3, "Ziekenhuis Eemdal, Orthopedie", "06010003", "0305"),
    hospital(4, "Ziekenhuis Eemdal, Interne geneeskunde", "06010004", "0313"),
    hospital(5, "Ziekenhuis Eemdal, Longziekten", "06010005", "0322"),
    hospital(6, "Ziekenhuis Eemdal, KNO", "06010006", "0302"),
    hospital(7, "Ziekenhuis Eemdal, Spoedeisende hulp", "06010007", "0300"),
    Org {
        id: 8,
        name: "Apotheek De Linde",
        kind: "AP",
        agb: "02010001",
        ura: "00009011",
        uzovi: "",
        specialism: "",
        phone: "030-1234599",
        street: "Lindenlaan",
        number: "14",
        postcode: "3511AB",
        city: "Utrecht",
    },
    Org {
        id: 9,
        name: "Apotheek Zeist Centrum",
        kind: "AP",
        agb: "02010002",
        ura: "00009012",
        uzovi: "",
        specialism: "",
        phone: "030-6900100",
        street: "Slotlaan",
        number: "80",
        postcode: "3701GN",
        city: "Zeist",
    },
    Org {
        id: 10,
        name: "Zorgverzekeraar Domstad",
        kind: "ZV",
        agb: "",
        ura: "",
        uzovi: "3901",
        specialism: "",
        phone: "088-0010010",
        street: "Postbus",
        number: "1000",
        postcode: "3500AA",
        city: "Utrecht",
    },
    Org {
        id: 11,
        name: "Zorgverzekeraar Eemland",
        kind: "ZV",
        agb: "",
        ura: "",
        uzovi: "3902",
        specialism: "",
        phone: "088-0020020",
        street: "Postbus",
        number: "2000",
        postcode: "3800AA",
        city: "Amersfoort",
    },
    Org {
        id: 12,
        name: "Zorgverzekeraar Heuvelrug",
        kind: "ZV",
        agb: "",
        ura: "",
        uzovi: "3903",
        specialism: "",
        phone: "088-0030030",
        street: "Postbus",
        number: "3000",
        postcode: "3700AA",
        city: "Zeist",
    },
];
const CARDIOLOGY: i64 = 1;
const SURGERY: i64 = 2;
const ORTHOPEDICS: i64 = 3;
const INTERNAL: i64 = 4;
const PULMONOLOGY: i64 = 5;
const ENT: i64 = 6;
const EMERGENCY: i64 = 7;
const PHARMACIES: &[i64] = &[8, 9];
const INSURERS: &[i64] = &[10, 11, 12];

/// Medicines of this part (what patients report they use, the pharmacy's agreements), beside
/// the GP prescriptions' own: HPK, PRK, name, form, dosage text, times a day. Illustrative codes.
const MEDICINES: &[(i64, i64, i64, &str, &str, &str, i64)] = &[
    (2817113, 94005, 100196, "METOPROLOLSUCCINAAT TABLET MGA 50MG", "TABLET MGA", "1 maal daags 1 tablet", 1),
    (1753681, 52701, 48860, "ACETYLSALICYLZUUR TABLET 80MG", "TABLET", "1 maal daags 1 tablet", 1),
    (1002619, 13064, 5118, "HYDROCHLOORTHIAZIDE TABLET 12,5MG", "TABLET", "1 maal daags 1 tablet 's ochtends", 1),
    (2631555, 99260, 100854, "COLECALCIFEROL CAPSULE 800IE", "CAPSULE", "1 maal daags 1 capsule", 1),
    (2346540, 76279, 80411, "PANTOPRAZOL TABLET MSR 40MG", "TABLET MSR", "1 maal daags 1 tablet voor het ontbijt", 1),
    (2909654, 110108, 114154, "APIXABAN TABLET 5MG", "TABLET", "2 maal daags 1 tablet", 2),
    (1876325, 45799, 49719, "AMLODIPINE TABLET 5MG", "TABLET", "1 maal daags 1 tablet", 1),
    (2038994, 25542, 31208, "MACROGOL/ZOUTEN POEDER VOOR DRANK", "POEDER", "1 maal daags 1 sachet", 1),
];

/// SNOMED CT problem, description, kind (D diagnose, K klacht, S symptoom), body site,
/// whether it is chronic (stays active), the hospital department that treats it.
const PROBLEMS: &[(&str, &str, &str, &str, bool, i64)] = &[
    ("38341003", "Hypertensie", "D", "", true, INTERNAL),
    ("44054006", "Diabetes mellitus type 2", "D", "", true, INTERNAL),
    ("195967001", "Astma", "D", "", true, PULMONOLOGY),
    ("13645005", "COPD", "D", "", true, PULMONOLOGY),
    ("49436004", "Atriumfibrilleren", "D", "", true, CARDIOLOGY),
    ("84114007", "Hartfalen", "D", "", true, CARDIOLOGY),
    ("399269003", "Artropathie van de knie", "D", "72696002", true, ORTHOPEDICS),
    ("49526009", "Presbyacusis", "D", "117590005", true, ENT),
    ("35489007", "Depressie", "D", "", true, INTERNAL),
    ("31641000146105", "Fractuur van pols", "D", "361289009", false, EMERGENCY),
    ("85562004", "Appendicitis", "D", "", false, SURGERY),
    ("279039007", "Lage rugpijn", "K", "", false, ORTHOPEDICS),
    ("267036007", "Kortademigheid", "S", "", false, PULMONOLOGY),
];

/// Treatment directives: local treatment code, the answers a patient may give, a restriction.
const TREATMENTS: &[(&str, &[&str], &str)] = &[
    ("REA", &["NEE", "NEE", "JA"], ""),
    ("BEA", &["NEE", "JA_MAAR"], "Alleen kortdurend, eerst overleg met partner"),
    ("IC", &["NEE", "JA_MAAR", "JA"], "Niet bij uitzichtloze situatie"),
    ("BLO", &["NEE", "JA"], ""),
];
/// Advance directives (zib WilsverklaringType) and a remark.
const DIRECTIVES: &[(&str, &str)] = &[
    ("NR", "Niet-reanimerenpenning"),
    ("VERB", "Schriftelijk behandelverbod bij de huisarts"),
    ("EU", "Euthanasieverzoek besproken met huisarts"),
    ("DO", "Geregistreerd in het donorregister"),
    ("VOL", "Volmacht aan partner"),
];

/// Functional or mental status: local aspect and the SNOMED findings it can have.
const FUNCTIONS: &[(&str, &[&str])] = &[
    ("WAS", &["19831000146107", "16621000146103", "284787001"]),
    ("LOP", &["165245003", "16581000146103", "282145008"]),
    ("HOR", &["162339002", "15188001"]),
    ("COG", &["386806002"]),
];

/// Diets (zib NutritionAdvice) and food consistencies.
const DIETS: &[&str] = &[
    "Energie- en eiwitverrijkt dieet",
    "Natriumbeperkt dieet (2 gram natrium)",
    "Diabetesdieet volgens Richtlijnen goede voeding",
    "Vochtbeperking 1,5 liter per dag",
    "Glutenvrij dieet",
];
const CONSISTENCIES: &[&str] = &["Gemalen", "Dikvloeibaar", "Vloeibaar"];

/// Alerts: kind, SNOMED CT, description.
const ALERTS: &[(&str, &str, &str)] = &[
    ("W", "432415000", "Drager van meticillineresistente Staphylococcus aureus (MRSA)"),
    ("W", "431109006", "Drager van vancomycineresistente enterococcus (VRE)"),
    ("W", "129839007", "Verhoogd valrisico"),
    ("A", "84114007", "Hartfalen: let op vochtbeperking"),
];

/// Devices: SNOMED CT product type, description, implant (gets a serial and UDI), body site,
/// the department that supplied it.
const DEVICES: &[(&str, &str, bool, &str, i64)] = &[
    ("6012004", "Hoortoestel", false, "117590005", ENT),
    ("109228008", "Knieprothese", true, "72696002", ORTHOPEDICS),
    ("14106009", "Pacemaker", true, "", CARDIOLOGY),
    ("87405001", "Wandelstok", false, "", ORTHOPEDICS),
    ("69805005", "Insulinepomp", false, "", INTERNAL),
];

/// Vaccines: ATC, description, the usual interval in years (0: once).
const VACCINES: &[(&str, &str, i64)] = &[
    ("J07BB02", "Influenzavaccin", 1),
    ("J07BX03", "COVID-19-vaccin", 1),
    ("J07AL02", "Pneumokokkenvaccin", 0),
    ("J07AM01", "Tetanusvaccin", 10),
    ("J07BC02", "Hepatitis A-vaccin", 0),
];

/// Procedures: SNOMED CT, description, kind (O operatie, D diagnostisch, B behandeling),
/// department (0: the practice itself), body site.
const PROCEDURES: &[(&str, &str, &str, i64, &str)] = &[
    ("80146002", "Appendectomie", "O", SURGERY, ""),
    ("38102005", "Cholecystectomie", "O", SURGERY, ""),
    ("609588000", "Implantatie van totale knieprothese", "O", ORTHOPEDICS, "72696002"),
    ("44558001", "Liesbreukoperatie", "O", SURGERY, ""),
    ("54885007", "Staaroperatie", "O", SURGERY, ""),
    ("29303009", "Elektrocardiografie", "D", 0, ""),
    ("127783003", "Spirometrie", "D", 0, ""),
    ("26782000", "Cryotherapie van wrat", "B", 0, ""),
];
/// Procedures that are planned: SNOMED CT, description, department.
const PLANNED: &[(&str, &str, i64)] = &[
    ("73761001", "Coloscopie", INTERNAL),
    ("240977001", "Biopsie van huid", SURGERY),
    ("40701008", "Echocardiografie", CARDIOLOGY),
    ("127783003", "Spirometrie", 0),
];

/// What an appointment is for, at the practice (department 0) or a hospital department.
const APPOINTMENTS: &[(&str, i64)] = &[
    ("Controle bloeddruk bij praktijkondersteuner", 0),
    ("Jaarcontrole diabetes", 0),
    ("Griepvaccinatie", 0),
    ("Poliklinische controle cardiologie", CARDIOLOGY),
    ("Controle na operatie", ORTHOPEDICS),
    ("Longfunctieonderzoek", PULMONOLOGY),
];

/// Adds this part of one generated patient's record. The address book and this part's
/// medicines come with the first patient (reference data, once).
pub fn patient(t: &mut Tables, p: &PatientContext<'_>) {
    if p.index == 0 {
        reference_data(t);
    }
    let mut rng = Rng::for_patient(p.seed, SALT, p.index);
    let r = &mut rng;
    coverage(t, p, r);
    let problems = problems(t, p, r);
    directives(t, p, r, &problems);
    measurements(t, p, r);
    lifestyle(t, p, r);
    nutrition_and_alerts(t, p, r);
    medication(t, p, r);
    let devices = devices(t, p, r, &problems);
    vaccinations(t, p, r);
    procedures(t, p, r, &problems, &devices);
    admissions(t, p, r, &problems);
    appointments(t, p, r);
}

fn reference_data(t: &mut Tables) {
    for o in ORGS {
        t.add(
            "instelling",
            vec![
                Value::Int(o.id),
                o.name.into(),
                o.kind.into(),
                blank_null(o.agb),
                blank_null(o.ura),
                blank_null(o.uzovi),
                blank_null(o.specialism),
                o.phone.into(),
                o.street.into(),
                o.number.into(),
                o.postcode.into(),
                o.city.into(),
                "LL".into(),
                "6030".into(),
                (if o.street == "Postbus" { "PST" } else { "PHYS" }).into(),
                yes_no(false),
            ],
        );
    }
    for (hpk, prk, gpk, name, form, _, _) in MEDICINES {
        t.add("middel", vec![Value::Int(*hpk), Value::Int(*prk), Value::Int(*gpk), (*name).into(), (*form).into()]);
    }
}

fn days_ago(p: &PatientContext<'_>, days: i64) -> NaiveDate {
    p.anchor - Duration::days(days)
}

/// The day itself, or the Monday after a weekend: practices and clinics are closed then.
fn workday(day: NaiveDate) -> NaiveDate {
    match day.weekday() {
        chrono::Weekday::Sat => day + Duration::days(2),
        chrono::Weekday::Sun => day + Duration::days(1),
        _ => day,
    }
}

/// A time of day during office hours, in minutes after midnight.
fn office_hours(r: &mut Rng) -> i64 {
    r.range(8 * 60, 17 * 60)
}

fn date(d: NaiveDate) -> Value {
    Value::Date(d)
}

fn opt_date(d: Option<NaiveDate>) -> Value {
    opt(d.map(Value::Date))
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn opt_int(i: Option<i64>) -> Value {
    opt(i.map(Value::Int))
}

/// The patient's GP or, now and then, the practice nurse (15).
fn practice_staff(p: &PatientContext<'_>, r: &mut Rng) -> i64 {
    if r.chance(70) {
        p.gp
    } else {
        15
    }
}

/// A synthetic IBAN with a valid check: bank code DEMO does not exist.
fn iban(r: &mut Rng) -> String {
    let account = format!("{:010}", r.range(100_000_000, 9_999_999_999));
    // ISO 13616: letters as numbers (A=10), country and "00" moved to the end, mod 97.
    let digits: String = format!("DEMO{account}NL00")
        .chars()
        .map(|c| c.to_digit(36).map(|d| d.to_string()).unwrap_or_default())
        .collect();
    let remainder = digits.bytes().fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 97);
    format!("NL{:02}DEMO{account}", 98 - remainder)
}

/// Health insurance runs per calendar year: a current policy ends on the year's last day.
fn coverage(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    let insurer = *r.pick(INSURERS);
    let year = p.anchor.year();
    let (year_start, year_end) = (day_of(year, 1, 1), day_of(year, 12, 31));
    // This year's basic insurance, often a supplementary one with it.
    let since = if r.chance(70) { day_of(year - r.range(1, 15) as i32, 1, 1) } else { year_start };
    add_coverage(t, p, r, Some(insurer), "B", Some(since), Some(year_end));
    if r.chance(60) {
        add_coverage(t, p, r, Some(insurer), "A", Some(year_start), Some(year_end));
    }
    // A new customer this year: before, at another insurer.
    if since == year_start {
        let previous = INSURERS.iter().copied().find(|i| *i != insurer).unwrap_or(insurer);
        let start = day_of(year - r.range(1, 6) as i32, 1, 1);
        add_coverage(t, p, r, Some(previous), "B", Some(start), Some(year_start - Duration::days(1)));
    }
    // Treatments no insurance covers, paid by the patient: no period.
    if r.chance(10) {
        add_coverage(t, p, r, None, "Z", None, None);
    }
}

/// A day of a year (callers ask only for days that exist).
fn day_of(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default()
}

/// One `verzekering` row: at an insurer, or paid by the patient from his bank account.
fn add_coverage(
    t: &mut Tables,
    p: &PatientContext<'_>,
    r: &mut Rng,
    insurer: Option<i64>,
    kind: &str,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) {
    let (policy, bank, account, bic) = match insurer {
        Some(_) => (Value::from(r.range(10_000_000, 99_999_999).to_string()), Value::Null, Value::Null, Value::Null),
        None => (Value::Null, Value::from("Demobank"), Value::from(iban(r)), Value::from("DEMONL2A")),
    };
    let id = t.next_id("verzekering");
    t.add(
        "verzekering",
        vec![
            int(id),
            int(p.pat_id),
            opt_int(insurer),
            kind.into(),
            policy,
            opt_date(start),
            opt_date(end),
            bank,
            account,
            bic,
            yes_no(false),
        ],
    );
}

/// Returns the patient's problems: key, index into PROBLEMS.
fn problems(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) -> Vec<(i64, usize)> {
    let mut out: Vec<(i64, usize)> = Vec::new();
    for _ in 0..r.range(1, 5) {
        let k = r.range(0, PROBLEMS.len() as i64 - 1) as usize;
        if out.iter().any(|(_, j)| *j == k) {
            continue;
        }
        let (code, name, kind, site, chronic, _) = PROBLEMS[k];
        let start = days_ago(p, r.range(20, 20 * 365));
        let (status, end) = if chronic {
            (if r.chance(90) { "A" } else { "I" }, None)
        } else {
            let end = start + Duration::days(r.range(14, 120));
            if end < p.anchor {
                ("H", Some(end))
            } else {
                ("A", None)
            }
        };
        let side = if site.is_empty() { "" } else { *r.pick(&["L", "R", "B"]) };
        // Now and then a problem recorded by mistake and removed again (never the first: every
        // patient keeps a problem list).
        let deleted = !out.is_empty() && r.chance(3);
        let id = t.next_id("probleem");
        t.add(
            "probleem",
            vec![
                int(id),
                int(p.pat_id),
                code.into(),
                "S".into(),
                name.into(),
                kind.into(),
                status.into(),
                (*r.pick(&["B", "B", "B", "W"])).into(),
                blank_null(site),
                blank_null(side),
                date(start),
                opt_date(end),
                Value::Null,
                Value::Null,
                opt(r.chance(20).then(|| Value::from("Overgenomen uit specialistenbrief"))),
                int(p.gp),
                yes_no(deleted),
            ],
        );
        if !deleted {
            out.push((id, k));
        }
    }
    out
}

fn directives(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng, problems: &[(i64, usize)]) {
    if r.chance(75) {
        let first = r.range(0, TREATMENTS.len() as i64 - 1) as usize;
        for k in [first, (first + 1) % TREATMENTS.len()].into_iter().take(r.range(1, 2) as usize) {
            let (treatment, answers, restriction) = TREATMENTS[k];
            let permitted = *r.pick(answers);
            let day = days_ago(p, r.range(10, 6 * 365));
            let verified = r.chance(70);
            let id = t.next_id("wilsverklaring");
            t.add(
                "wilsverklaring",
                vec![
                    int(id),
                    int(p.pat_id),
                    "B".into(),
                    treatment.into(),
                    permitted.into(),
                    opt((permitted == "JA_MAAR").then(|| Value::from(restriction))),
                    Value::Null,
                    Value::Null,
                    date(day),
                    Value::Null,
                    yes_no(verified),
                    opt(verified.then(|| Value::from(*r.pick(&["P", "P", "V"])))),
                    opt(verified.then(|| date(day + Duration::days(r.range(0, 30))))),
                    Value::Null,
                    yes_no(false),
                ],
            );
        }
    }
    if r.chance(65) {
        let (kind, remark) = *r.pick(DIRECTIVES);
        let id = t.next_id("wilsverklaring");
        t.add(
            "wilsverklaring",
            vec![
                int(id),
                int(p.pat_id),
                "W".into(),
                Value::Null,
                Value::Null,
                Value::Null,
                kind.into(),
                // The disorder the statement was made for, sometimes.
                opt_int(problems.first().filter(|_| r.chance(40)).map(|(id, _)| *id)),
                date(days_ago(p, r.range(30, 10 * 365))),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                remark.into(),
                yes_no(false),
            ],
        );
    }
}

/// One row of `meting`; `values` are waarde, waarde2, code, code2.
struct Meting<'a> {
    kind: &'a str,
    at: Value,
    values: [Value; 4],
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    remark: Option<&'a str>,
    staff: Option<i64>,
}

impl<'a> Meting<'a> {
    /// A measurement at one moment by a staff member, without period or remark.
    fn measured(kind: &'a str, at: Value, values: [Value; 4], staff: i64) -> Self {
        Meting { kind, at, values, start: None, end: None, remark: None, staff: Some(staff) }
    }
}

fn add_meting(t: &mut Tables, p: &PatientContext<'_>, m: Meting<'_>) {
    let id = t.next_id("meting");
    let [value, value2, code, code2] = m.values;
    t.add(
        "meting",
        vec![
            int(id),
            int(p.pat_id),
            m.kind.into(),
            m.at,
            value,
            value2,
            code,
            code2,
            // A blood pressure is measured on the left upper arm, non-invasively.
            opt((m.kind == "RR").then(|| Value::from("368208006"))),
            opt((m.kind == "RR").then(|| Value::from("22762002"))),
            opt_date(m.start),
            opt_date(m.end),
            // Since when someone smokes, drinks or uses drugs is known by the year.
            opt(matches!(m.kind, "TAB" | "ALC" | "DRG").then(|| Value::from("J")).filter(|_| m.start.is_some())),
            opt(matches!(m.kind, "TAB" | "ALC" | "DRG").then(|| Value::from("J")).filter(|_| m.end.is_some())),
            opt(m.remark.map(Value::from)),
            opt_int(m.staff),
            yes_no(false),
        ],
    );
}

/// Text with a decimal comma, as the practice types it.
fn comma(tenths: i64) -> Value {
    format!("{},{}", tenths / 10, tenths % 10).into()
}

/// Blood pressure, weight and height at consultations: most within the last year.
fn measurements(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    // The latest within the year; older ones often at a consultation.
    let when = |r: &mut Rng, n: i64| match p.contacts.get(r.range(0, 2 * p.contacts.len() as i64) as usize) {
        Some((_, day)) if n > 0 => (p.anchor - *day).num_days(),
        _ if n == 0 => r.range(5, 300),
        _ => r.range(30, 4 * 365),
    };
    if r.chance(85) {
        let base = r.range(115, 160);
        for n in 0..r.range(1, 5) {
            let systolic = base + r.range(-12, 12);
            let diastolic = systolic * 6 / 10 + r.range(-5, 8);
            let staff = practice_staff(p, r);
            add_meting(
                t,
                p,
                Meting::measured(
                    "RR",
                    at(days_ago(p, when(r, n)), office_hours(r)),
                    [
                        systolic.to_string().into(),
                        diastolic.to_string().into(),
                        (*r.pick(&["STD", "STD", "L"])).into(),
                        (*r.pick(&["ZIT", "ZIT", "ZIT", "LIG"])).into(),
                    ],
                    staff,
                ),
            );
        }
    }
    if r.chance(85) {
        let weight = r.range(550, 1100);
        for n in 0..r.range(1, 4) {
            let staff = practice_staff(p, r);
            add_meting(
                t,
                p,
                Meting::measured(
                    "GEW",
                    at(days_ago(p, when(r, n)), office_hours(r)),
                    [
                        comma(weight + r.range(-30, 30)),
                        Value::Null,
                        (*r.pick(&["MINIMAL", "FULL"])).into(),
                        Value::Null,
                    ],
                    staff,
                ),
            );
        }
    }
    if r.chance(80) {
        let height = r.range(152, 198);
        for n in 0..r.range(1, 2) {
            let staff = practice_staff(p, r);
            add_meting(
                t,
                p,
                Meting {
                    kind: "LEN",
                    at: at(days_ago(p, when(r, n) + 200), office_hours(r)),
                    values: [height.to_string().into(), Value::Null, Value::Null, Value::Null],
                    start: None,
                    end: None,
                    remark: r.chance(20).then_some("Gemeten met schoenen aan"),
                    staff: Some(staff),
                },
            );
        }
    }
}

/// Tobacco, alcohol and drug use, living situation, functional and mental status.
fn lifestyle(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    let noted = |r: &mut Rng| at(days_ago(p, r.range(10, 5 * 365)), office_hours(r));
    if r.chance(90) {
        let status = *r.pick(&["R", "R", "S", "X", "X", "N", "N", "N"]);
        let start = (status != "N").then(|| days_ago(p, r.range(15 * 365, 40 * 365)));
        let end = (status == "X").then(|| days_ago(p, r.range(365, 12 * 365)));
        let smokes = matches!(status, "R" | "S" | "X");
        let per_week = smokes.then(|| (7 * r.range(2, 25)).to_string().into());
        let pack_years = smokes.then(|| r.range(1, 40).to_string().into());
        let when = noted(r);
        add_meting(
            t,
            p,
            Meting {
                kind: "TAB",
                at: when,
                values: [
                    opt(per_week),
                    opt(pack_years),
                    status.into(),
                    opt(smokes.then(|| Value::from(*r.pick(&["SIG", "SIG", "SHAG", "SIGAAR"])))),
                ],
                start,
                end,
                remark: None,
                staff: Some(p.gp),
            },
        );
    }
    if r.chance(85) {
        let status = *r.pick(&["D", "D", "D", "G", "X", "N"]);
        let start = matches!(status, "D" | "X").then(|| days_ago(p, r.range(20 * 365, 45 * 365)));
        let end = (status == "X").then(|| days_ago(p, r.range(365, 10 * 365)));
        let glasses = (status == "D").then(|| r.range(1, 21).to_string().into());
        let when = noted(r);
        add_meting(
            t,
            p,
            Meting {
                kind: "ALC",
                at: when,
                values: [opt(glasses), Value::Null, status.into(), Value::Null],
                start,
                end,
                remark: None,
                staff: Some(p.gp),
            },
        );
    }
    if r.chance(65) {
        let status = *r.pick(&["NO", "NO", "NO", "N", "X", "G"]);
        let used = matches!(status, "X" | "G");
        let drug = used.then(|| Value::from(*r.pick(&["CAN", "CAN", "XTC", "COC", "AMF"])));
        let start = used.then(|| days_ago(p, r.range(5 * 365, 30 * 365)));
        let end = (status == "X").then(|| days_ago(p, r.range(365, 5 * 365)));
        let how_often = used.then(|| Value::from(*r.pick(&["wekelijks", "maandelijks", "enkele keren per jaar"])));
        let when = noted(r);
        add_meting(
            t,
            p,
            Meting {
                kind: "DRG",
                at: when,
                values: [opt(how_often), Value::Null, status.into(), opt(drug)],
                start,
                end,
                remark: (status == "X").then_some("Alleen in studietijd"),
                staff: Some(p.gp),
            },
        );
    }
    if r.chance(80) {
        for _ in 0..r.range(1, 2) {
            let home = *r.pick(&["EENGEZW", "EENGEZW", "FLATW", "BOVENW", "BENEDENW", "AANLW"]);
            let when = noted(r);
            add_meting(
                t,
                p,
                Meting {
                    kind: "WON",
                    at: when,
                    values: [Value::Null, Value::Null, home.into(), Value::Null],
                    start: None,
                    end: None,
                    remark: (home == "BOVENW").then_some("Trap zonder lift"),
                    staff: Some(p.gp),
                },
            );
        }
    }
    if r.chance(70) {
        let first = r.range(0, FUNCTIONS.len() as i64 - 1) as usize;
        for k in (first..first + r.range(1, 2) as usize).map(|k| k % FUNCTIONS.len()) {
            let (aspect, findings) = FUNCTIONS[k];
            let since = days_ago(p, r.range(30, 8 * 365));
            add_meting(
                t,
                p,
                Meting {
                    kind: "FUN",
                    at: at(since, office_hours(r)),
                    values: [Value::Null, Value::Null, (*r.pick(findings)).into(), aspect.into()],
                    start: Some(since),
                    end: None,
                    remark: None,
                    staff: Some(practice_staff(p, r)),
                },
            );
        }
    }
}

fn nutrition_and_alerts(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    if r.chance(70) {
        let start = days_ago(p, r.range(10, 4 * 365));
        let ended = r.chance(25);
        let id = t.next_id("voedingsadvies");
        t.add(
            "voedingsadvies",
            vec![
                int(id),
                int(p.pat_id),
                (*r.pick(DIETS)).into(),
                opt(r.chance(25).then(|| Value::from(*r.pick(CONSISTENCIES)))),
                opt(r.chance(30).then(|| Value::from("Advies van de diëtist"))),
                (if ended { "B" } else { "A" }).into(),
                date(start),
                opt_date(ended.then(|| start + Duration::days(r.range(30, 200))).filter(|e| *e < p.anchor)),
                int(p.gp),
                yes_no(false),
            ],
        );
    }
    if r.chance(70) {
        let (kind, code, name) = *r.pick(ALERTS);
        let active = r.chance(80);
        let start = days_ago(p, r.range(30, 10 * 365));
        let id = t.next_id("waarschuwing");
        t.add(
            "waarschuwing",
            vec![
                int(id),
                int(p.pat_id),
                kind.into(),
                code.into(),
                name.into(),
                (if active { "A" } else { "I" }).into(),
                date(start),
                opt_date((!active).then(|| start + Duration::days(r.range(30, 700))).filter(|e| *e < p.anchor)),
                int(p.gp),
                yes_no(false),
            ],
        );
    }
}

fn medication(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    // What the patient reports he uses (self-care or from a specialist), checked by the GP.
    let mut used = Vec::new();
    if r.chance(85) {
        for _ in 0..r.range(1, 3) {
            let k = r.range(0, MEDICINES.len() as i64 - 1) as usize;
            if used.contains(&k) {
                continue;
            }
            used.push(k);
            let (hpk, _, _, _, _, dosage, per_day) = MEDICINES[k];
            let start = days_ago(p, r.range(20, 6 * 365));
            let stopped = r.chance(20);
            let end = stopped.then(|| start + Duration::days(r.range(14, 365))).filter(|e| *e < p.anchor);
            let source = *r.pick(&["P", "P", "H"]);
            let noted = start + Duration::days(r.range(0, 30));
            let id = t.next_id("medicatiegebruik");
            t.add(
                "medicatiegebruik",
                vec![
                    int(id),
                    int(p.pat_id),
                    int(hpk),
                    (if end.is_some() { "G" } else { "A" }).into(),
                    yes_no(end.is_none() || r.chance(70)),
                    yes_no(r.chance(85)),
                    date(start),
                    opt_date(end),
                    dosage.into(),
                    int(per_day),
                    "1".into(),
                    "9".into(),
                    source.into(),
                    opt_int((source == "H").then_some(p.gp)),
                    at(noted.min(p.anchor), office_hours(r)),
                    opt(r.chance(15).then(|| Value::from("Voorgeschreven door specialist"))),
                    yes_no(r.chance(3)),
                ],
            );
        }
    }
    // The pharmacy's administration agreements, for some of those medicines.
    if r.chance(70) {
        let k = used.first().copied().unwrap_or_else(|| r.range(0, MEDICINES.len() as i64 - 1) as usize);
        let (hpk, _, _, _, _, dosage, per_day) = MEDICINES[k];
        let agreed = days_ago(p, r.range(5, 3 * 365));
        let days = *r.pick(&[30, 90, 90, 180]);
        let status = if agreed + Duration::days(days) < p.anchor { "G" } else { "A" };
        let id = t.next_id("toedieningsafspraak");
        t.add(
            "toedieningsafspraak",
            vec![
                int(id),
                int(p.pat_id),
                int(hpk),
                int(*r.pick(PHARMACIES)),
                at(agreed, office_hours(r)),
                date(agreed + Duration::days(r.range(0, 3))),
                int(days),
                dosage.into(),
                int(per_day),
                "1".into(),
                yes_no(r.chance(10)),
                "9".into(),
                status.into(),
                yes_no(false),
            ],
        );
    }
}

/// Returns the patient's devices in use: key, index into DEVICES.
fn devices(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng, problems: &[(i64, usize)]) -> Vec<(i64, usize)> {
    let mut out = Vec::new();
    let add = |t: &mut Tables, r: &mut Rng, k: usize, status: &str| {
        let (code, name, implant, site, org) = DEVICES[k];
        let start = days_ago(p, if status == "V" || status == "X" { r.range(1, 60) } else { r.range(60, 12 * 365) });
        let serial = implant.then(|| format!("{}", r.range(1_000_000_000, 9_999_999_999)));
        let expiry = implant.then(|| start + Duration::days(r.range(2 * 365, 5 * 365)));
        let udi = implant.then(|| format!("0{}", r.range(5_050_000_000_000, 5_059_999_999_999)));
        let hrf = udi
            .as_ref()
            .zip(serial.as_ref())
            .zip(expiry)
            .map(|((u, s), e)| format!("(01){u}(17){}(21){s}", e.format("%y%m%d")));
        // The problem it is for: the body site's problem when the patient has it.
        let problem = problems.iter().find(|(_, j)| !site.is_empty() && PROBLEMS[*j].3 == site).map(|(id, _)| *id);
        let side = if site.is_empty() { "" } else { *r.pick(&["L", "R", "B"]) };
        let id = t.next_id("hulpmiddel");
        t.add(
            "hulpmiddel",
            vec![
                int(id),
                int(p.pat_id),
                code.into(),
                name.into(),
                opt(serial.map(Value::from)),
                opt(udi.map(Value::from)),
                opt(hrf.map(Value::from)),
                opt_date(expiry),
                status.into(),
                date(start),
                opt_date((status == "G").then(|| start + Duration::days(r.range(100, 900))).filter(|e| *e < p.anchor)),
                Value::Null,
                blank_null(site),
                blank_null(side),
                opt_int(problem),
                int(org),
                int(p.gp),
                opt((status == "V").then(|| Value::from("Aangevraagd via de huisarts"))),
                yes_no(false),
            ],
        );
        id
    };
    if r.chance(70) {
        for _ in 0..r.range(1, 2) {
            let k = r.range(0, DEVICES.len() as i64 - 1) as usize;
            if !out.iter().any(|(_, j)| *j == k) {
                let status = if r.chance(85) { "A" } else { "G" };
                let id = add(t, r, k, status);
                out.push((id, k));
            }
        }
    }
    if r.chance(70) {
        let k = r.range(0, DEVICES.len() as i64 - 1) as usize;
        let status = if r.chance(90) { "V" } else { "X" };
        add(t, r, k, status);
    }
    out
}

fn vaccinations(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    let add = |t: &mut Tables, r: &mut Rng, k: usize, status: &str, day: NaiveDate, dose: i64| {
        let (atc, name, _) = VACCINES[k];
        let id = t.next_id("vaccinatie");
        t.add(
            "vaccinatie",
            vec![
                int(id),
                int(p.pat_id),
                atc.into(),
                name.into(),
                status.into(),
                date(day),
                int(dose),
                opt_int((status == "G").then(|| practice_staff(p, r))),
                // COVID-19 vaccines were given by the GGD: recorded here, given elsewhere.
                opt((status == "G").then(|| yes_no(k != 1))),
                opt((k == 4 && status == "G").then(|| Value::from("Reis naar Zuid-Amerika"))),
                yes_no(false),
            ],
        );
    };
    if r.chance(85) {
        let first = r.range(0, VACCINES.len() as i64 - 1) as usize;
        for k in (first..first + r.range(1, 3) as usize).map(|k| k % VACCINES.len()) {
            let interval = VACCINES[k].2;
            // Yearly vaccines: the last few autumns.
            let doses = if interval == 1 { r.range(1, 3) } else { 1 };
            for dose in 1..=doses {
                let day = if interval == 1 {
                    let autumn = NaiveDate::from_ymd_opt(p.anchor.year() - dose as i32, 10, 20).unwrap_or(p.anchor);
                    autumn + Duration::days(r.range(0, 40))
                } else {
                    days_ago(p, r.range(60, 15 * 365))
                };
                add(t, r, k, "G", day, dose);
            }
        }
    }
    if r.chance(65) {
        let k = *r.pick(&[0, 0, 1, 2, 3]);
        let due = p.anchor + Duration::days(r.range(14, 240));
        add(t, r, k, "A", due, 1);
    }
}

/// A procedure of PROCEDURES or PLANNED: SNOMED CT, description, kind, department, body site.
type ProcedureKind<'a> = (&'a str, &'a str, &'a str, i64, &'a str);

fn procedures(
    t: &mut Tables,
    p: &PatientContext<'_>,
    r: &mut Rng,
    problems: &[(i64, usize)],
    devices: &[(i64, usize)],
) {
    let add = |t: &mut Tables, r: &mut Rng, what: ProcedureKind<'_>, status: &str, day: NaiveDate| {
        let (code, name, kind, org, site) = what;
        // The reason: a problem the same department treats.
        let problem = problems.iter().find(|(_, j)| org != 0 && PROBLEMS[*j].5 == org).map(|(id, _)| *id);
        // A knee replacement placed the patient's knee prosthesis.
        let device =
            devices.iter().find(|(_, j)| code == "609588000" && DEVICES[*j].0 == "109228008").map(|(id, _)| *id);
        let side = if site.is_empty() { "" } else { *r.pick(&["L", "R"]) };
        let id = t.next_id("verrichting");
        t.add(
            "verrichting",
            vec![
                int(id),
                int(p.pat_id),
                code.into(),
                name.into(),
                kind.into(),
                status.into(),
                date(day),
                opt_date((status == "U" && kind == "O").then(|| day + Duration::days(r.range(0, 2)))),
                blank_null(site),
                blank_null(side),
                opt_int(problem),
                opt_int(device),
                opt_int((org != 0).then_some(org)),
                opt_int((org == 0).then(|| practice_staff(p, r))),
                yes_no(false),
            ],
        );
    };
    // Operations in the hospital, and procedures in the practice.
    if r.chance(65) {
        for _ in 0..r.range(1, 2) {
            let what = *r.pick(&PROCEDURES[..5]);
            let day = days_ago(p, r.range(60, 25 * 365));
            add(t, r, what, "U", day);
        }
    }
    for _ in 0..r.range(0, 2) {
        let what = *r.pick(&PROCEDURES[5..]);
        let day = days_ago(p, r.range(7, 5 * 365));
        add(t, r, what, "U", day);
    }
    // A planned procedure; now and then it was cancelled.
    if r.chance(70) {
        let (code, name, org) = *r.pick(PLANNED);
        let kind = if org == 0 { "D" } else { "O" };
        let status = if r.chance(85) { "P" } else { "X" };
        let day = workday(p.anchor + Duration::days(r.range(7, 120)));
        add(t, r, (code, name, kind, org, ""), status, day);
    }
}

fn admissions(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng, problems: &[(i64, usize)]) {
    if !r.chance(75) {
        return;
    }
    for n in 0..r.range(1, 3) {
        let kind = if n == 0 { "K" } else { *r.pick(&["K", "D", "S", "S"]) };
        let problem = *r.pick(problems);
        let org = if kind == "S" { EMERGENCY } else { PROBLEMS[problem.1].5 };
        let day = days_ago(p, r.range(20, 10 * 365));
        let start = if kind == "S" { r.range(0, 24 * 60 - 1) } else { r.range(7 * 60, 11 * 60) };
        let minutes = match kind {
            "K" => r.range(1, 10) * 24 * 60 + r.range(-120, 240),
            "D" => r.range(3 * 60, 8 * 60),
            _ => r.range(60, 5 * 60),
        };
        let id = t.next_id("opname");
        t.add(
            "opname",
            vec![
                int(id),
                int(p.pat_id),
                int(org),
                kind.into(),
                at(day, start),
                at(day, start + minutes),
                int(problem.0),
                opt((kind == "K")
                    .then(|| Value::from(format!("Opname wegens {}", PROBLEMS[problem.1].1.to_lowercase())))),
                yes_no(r.chance(2)),
            ],
        );
    }
}

fn appointments(t: &mut Tables, p: &PatientContext<'_>, r: &mut Rng) {
    if !r.chance(85) {
        return;
    }
    for n in 0..r.range(1, 3) {
        let (what, org) = *r.pick(APPOINTMENTS);
        // The first is coming up; others may lie in the past.
        let upcoming = n == 0 || r.chance(50);
        let (day, status) = if upcoming {
            (p.anchor + Duration::days(r.range(1, 90)), *r.pick(&["B", "B", "B", "V", "W", "A"]))
        } else {
            (days_ago(p, r.range(5, 400)), *r.pick(&["G", "G", "G", "N", "A"]))
        };
        let start = r.range(16, 33) * 30;
        let minutes = if org == 0 { 15 } else { *r.pick(&[10, 20, 30]) };
        let id = t.next_id("afspraak");
        t.add(
            "afspraak",
            vec![
                int(id),
                int(p.pat_id),
                opt_int((org != 0).then_some(org)),
                opt_int((org == 0).then(|| practice_staff(p, r))),
                what.into(),
                at(workday(day), start),
                at(workday(day), start + minutes),
                status.into(),
                yes_no(false),
            ],
        );
    }
}
