//! The Nictiz fixtures: FHIR XML resources, read into a small owned tree with path getters.
//! Date variables (`${DATE, T, D, -90}`: "today" minus 90 days) are resolved while reading.

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use std::path::Path;

/// One FHIR element: its name, `value` attribute, extension `url`, xhtml text and children.
#[derive(Debug, Clone, Default)]
pub struct Element {
    pub name: String,
    pub value: Option<String>,
    /// The `url` attribute of an extension.
    pub url: Option<String>,
    /// The text of an xhtml `div` (narrative), whitespace collapsed.
    pub text: Option<String>,
    pub children: Vec<Element>,
}

impl Element {
    /// The elements at a dotted path of element names below this one, e.g. `code.coding`.
    pub fn each(&self, path: &str) -> Vec<&Element> {
        let mut level = vec![self];
        for step in path.split('.').filter(|s| !s.is_empty()) {
            level = level.iter().flat_map(|e| e.children.iter().filter(|c| c.name == step)).collect();
        }
        level
    }

    /// The first element at `path`.
    pub fn first(&self, path: &str) -> Option<&Element> {
        self.each(path).into_iter().next()
    }

    /// The value of the first element at `path` that has one, e.g. `code.coding.code`.
    pub fn get(&self, path: &str) -> Option<&str> {
        self.each(path).into_iter().find_map(|e| e.value.as_deref())
    }

    /// Every value at `path`.
    pub fn all(&self, path: &str) -> Vec<&str> {
        self.each(path).into_iter().filter_map(|e| e.value.as_deref()).collect()
    }

    /// The extension (or modifierExtension) child with this url.
    pub fn ext(&self, url: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| (c.name == "extension" || c.name == "modifierExtension") && c.url.as_deref() == Some(url))
    }

    /// The code of the first coding at `path` (a CodeableConcept) with this system.
    pub fn code_in(&self, path: &str, system: &str) -> Option<&str> {
        self.each(&format!("{path}.coding"))
            .into_iter()
            .find(|c| c.get("system") == Some(system))
            .and_then(|c| c.get("code"))
    }

    /// The `Type/id` of the reference at `path` (its `reference` value).
    pub fn reference(&self, path: &str) -> Option<&str> {
        self.get(&format!("{path}.reference"))
    }

    /// The date at `path` (a date or the date part of a dateTime).
    pub fn date(&self, path: &str) -> Option<NaiveDate> {
        self.get(path).and_then(parse_date)
    }

    /// The local date and time at `path`; a date alone is midnight. An offset is dropped:
    /// the legacy tables keep local time.
    pub fn datetime(&self, path: &str) -> Option<NaiveDateTime> {
        self.get(path).and_then(parse_datetime)
    }

    /// How much of the date or time at `path` is known, as a legacy precision code: J a year,
    /// M a month, D a day, T a time.
    pub fn precision(&self, path: &str) -> Option<&'static str> {
        Some(match self.get(path)?.len() {
            4 => "J",
            7 => "M",
            10 => "D",
            _ => "T",
        })
    }

    /// The narrative text of the first `div` at `path` (e.g. `text.div`).
    pub fn narrative(&self, path: &str) -> Option<&str> {
        self.first(path).and_then(|e| e.text.as_deref())
    }
}

/// A fixture file: one resource.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub resource_type: String,
    pub id: String,
    pub root: Element,
    /// The file name, for error messages.
    pub file: String,
}

impl Fixture {
    /// `Type/id`, as references write it.
    pub fn literal_reference(&self) -> String {
        format!("{}/{}", self.resource_type, self.id)
    }

    /// The first profile in `meta.profile`.
    pub fn profile(&self) -> Option<&str> {
        self.root.get("meta.profile")
    }
}

impl std::ops::Deref for Fixture {
    type Target = Element;
    fn deref(&self) -> &Element {
        &self.root
    }
}

/// Every `*.xml` fixture in `dirs` (not recursive), sorted by file name.
pub fn read_dirs(dirs: &[&Path], anchor: NaiveDate) -> anyhow::Result<Vec<Fixture>> {
    let mut files = Vec::new();
    for dir in dirs {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read the fixture folder {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "xml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files.iter().map(|f| read_file(f, anchor)).collect()
}

pub fn read_file(path: &Path, anchor: NaiveDate) -> anyhow::Result<Fixture> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    parse(&text, anchor).with_context(|| format!("fixture {file}")).map(|(resource_type, id, root)| Fixture {
        resource_type,
        id,
        root,
        file,
    })
}

/// Parses one FHIR XML resource.
pub fn parse(text: &str, anchor: NaiveDate) -> anyhow::Result<(String, String, Element)> {
    let doc = roxmltree::Document::parse(text).context("not well-formed XML")?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some("http://hl7.org/fhir") {
        anyhow::bail!("not a FHIR resource (root element {})", root.tag_name().name());
    }
    let element = convert(root, anchor);
    let id = element.get("id").context("the resource has no id")?.to_owned();
    Ok((element.name.clone(), id, element))
}

fn convert(node: roxmltree::Node<'_, '_>, anchor: NaiveDate) -> Element {
    let name = node.tag_name().name().to_owned();
    if name == "div" {
        let text: Vec<&str> = node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect();
        let text = text.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
        return Element { name, text: Some(resolve_dates(&text, anchor)), ..Element::default() };
    }
    Element {
        value: node.attribute("value").map(|v| resolve_dates(v, anchor)),
        url: node.attribute("url").map(str::to_owned),
        children: node.children().filter(|c| c.is_element()).map(|c| convert(c, anchor)).collect(),
        name,
        text: None,
    }
}

/// Replaces every `${DATE, T, <D|M|Y>, <n>}` with `anchor` moved by n days, months or years.
/// Unknown variables are kept as they are.
pub fn resolve_dates(text: &str, anchor: NaiveDate) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        let var = &rest[start + 2..start + len];
        match date_variable(var, anchor) {
            Some(date) => out.push_str(&date.format("%Y-%m-%d").to_string()),
            None => out.push_str(&rest[start..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn date_variable(var: &str, anchor: NaiveDate) -> Option<NaiveDate> {
    // `DATE, T, <unit>, <n>` (T: today) in fixtures, `CURRENTDATE, <unit>, <n>` in scripts.
    let parts: Vec<&str> = var.split(',').map(str::trim).collect();
    let (unit, amount) = match parts.as_slice() {
        ["DATE", "T", unit, amount] | ["CURRENTDATE", unit, amount] => (*unit, *amount),
        _ => return None,
    };
    let n: i64 = amount.parse().ok()?;
    match unit {
        "D" => Some(anchor + Duration::days(n)),
        "M" => add_months(anchor, n),
        "Y" => add_months(anchor, n.checked_mul(12)?),
        _ => None,
    }
}

fn add_months(date: NaiveDate, months: i64) -> Option<NaiveDate> {
    let total = i64::from(date.year()) * 12 + i64::from(date.month0()) + months;
    let (year, month0) = (i32::try_from(total.div_euclid(12)).ok()?, total.rem_euclid(12) as u32);
    // The same day of the month, or the month's last day.
    (0..4).find_map(|back| NaiveDate::from_ymd_opt(year, month0 + 1, date.day().saturating_sub(back)))
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok())
        .or_else(|| NaiveDate::parse_from_str(&format!("{s}-01-01"), "%Y-%m-%d").ok())
}

pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    match s.get(..19).and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok()) {
        Some(t) => Some(t),
        None => parse_date(s).and_then(|d| d.and_hms_opt(0, 0, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn date_variables_move_from_the_anchor() {
        let anchor = day(2026, 3, 31);
        assert_eq!(resolve_dates("${DATE, T, D, -90}", anchor), "2025-12-31");
        assert_eq!(resolve_dates("x ${DATE, T, M, -1}T10:00:00+01:00", anchor), "x 2026-02-28T10:00:00+01:00");
        assert_eq!(resolve_dates("${DATE, T, Y, -2}", anchor), "2024-03-31");
        assert_eq!(resolve_dates("date=ge${CURRENTDATE,M,-14}", anchor), "date=ge2025-01-31");
        assert_eq!(resolve_dates("${OTHER} and ${DATE, T, D, 1}", anchor), "${OTHER} and 2026-04-01");
        assert_eq!(resolve_dates("broken ${DATE", anchor), "broken ${DATE");
    }

    #[test]
    fn paths_extensions_and_narrative() {
        let xml = r#"<Observation xmlns="http://hl7.org/fhir"><id value="x1"/>
            <extension url="http://e"><valueString value="ext"/></extension>
            <code><coding><system value="http://a"/><code value="1"/></coding><coding><system value="http://b"/><code value="2"/></coding></code>
            <subject><reference value="Patient/p1"/></subject>
            <effectiveDateTime value="${DATE, T, D, -1}T17:45:00+02:00"/>
            <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Keel  pijn</p> eci.</div></text>
            </Observation>"#;
        let (kind, id, e) = parse(xml, day(2026, 1, 2)).expect("parse");
        assert_eq!((kind.as_str(), id.as_str()), ("Observation", "x1"));
        assert_eq!(e.all("code.coding.code"), ["1", "2"]);
        assert_eq!(e.code_in("code", "http://b"), Some("2"));
        assert_eq!(e.reference("subject"), Some("Patient/p1"));
        assert_eq!(e.ext("http://e").and_then(|x| x.get("valueString")), Some("ext"));
        assert_eq!(e.datetime("effectiveDateTime"), day(2026, 1, 1).and_hms_opt(17, 45, 0));
        assert_eq!(e.narrative("text.div"), Some("Keel pijn eci."));
        assert!(parse("<Patient/>", day(2026, 1, 1)).is_err());
        assert!(parse("<Patient xmlns=\"http://hl7.org/fhir\"/>", day(2026, 1, 1)).is_err(), "no id");
    }
}
