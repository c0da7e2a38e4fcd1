//! A FHIR HumanName (zib NameInformation) taken apart into the name columns of the legacy
//! tables: given names, call name and initials by their qualifier; the own and the partner's
//! family name with their prefixes; which of them the person goes by.

use super::fixture::Element;
use crate::tables::opt;
use dva_source_api::Value;

const QUALIFIER: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier";
const SD: &str = "http://hl7.org/fhir/StructureDefinition/";

#[derive(Debug, Default, PartialEq)]
pub(super) struct Name {
    /// The given names (qualifier BR, or none), joined.
    pub given: Option<String>,
    /// The call name (CL).
    pub call: Option<String>,
    /// The initials (IN), joined.
    pub initials: Option<String>,
    pub own_prefix: Option<String>,
    /// The own family name without its prefix: never the whole `family`, which may hold the
    /// prefix and the partner's name too.
    pub own: Option<String>,
    pub partner_prefix: Option<String>,
    pub partner: Option<String>,
    /// `naamgebruik`: E, P, V or N, from the assembly order NL1 to NL4.
    pub usage: Option<&'static str>,
}

impl Name {
    pub fn of(name: &Element) -> Name {
        let given = |qualifier: Option<&str>| {
            let parts: Vec<&str> = name
                .each("given")
                .into_iter()
                .filter(|g| g.ext(QUALIFIER).and_then(|q| q.get("valueCode")) == qualifier)
                .filter_map(|g| g.value.as_deref())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        };
        let family = name.first("family");
        let part = |ext: &str| {
            family
                .and_then(|f| f.ext(&format!("{SD}humanname-{ext}")))
                .and_then(|e| e.get("valueString"))
                .map(str::to_owned)
        };
        let own_prefix = part("own-prefix");
        // Without the own-name extension: the family name less its prefix.
        let own = part("own-name").or_else(|| {
            let whole = family.and_then(|f| f.value.as_deref())?;
            let prefix = own_prefix.as_deref().map(|p| format!("{p} "));
            Some(prefix.and_then(|p| whole.strip_prefix(&p)).unwrap_or(whole).to_owned())
        });
        let usage = match name.ext(&format!("{SD}humanname-assembly-order")).and_then(|e| e.get("valueCode")) {
            Some("NL1") => Some("E"),
            Some("NL2") => Some("P"),
            Some("NL3") => Some("V"),
            Some("NL4") => Some("N"),
            _ => None,
        };
        Name {
            given: given(Some("BR")).or_else(|| given(None)),
            call: given(Some("CL")),
            initials: given(Some("IN")),
            own_prefix,
            own,
            partner_prefix: part("partner-prefix"),
            partner: part("partner-name"),
            usage,
        }
    }
}

/// Text as a column value: NULL when absent.
pub(super) fn column(v: &Option<String>) -> Value {
    opt(v.as_deref().map(Value::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(xml: &str) -> Name {
        let resource = format!("<Patient xmlns=\"http://hl7.org/fhir\"><id value=\"x\"/>{xml}</Patient>");
        let (_, _, root) = super::super::fixture::parse(&resource, chrono::NaiveDate::MIN).expect("xml");
        Name::of(root.first("name").expect("name"))
    }

    #[test]
    fn name_parts_by_qualifier_without_doubling() {
        let n = name(&format!(
            "<name><extension url=\"{SD}humanname-assembly-order\"><valueCode value=\"NL4\"/></extension>\
             <family value=\"van Putten-Helleman\"><extension url=\"{SD}humanname-own-prefix\"><valueString value=\"van\"/></extension>\
             <extension url=\"{SD}humanname-own-name\"><valueString value=\"Putten\"/></extension>\
             <extension url=\"{SD}humanname-partner-name\"><valueString value=\"Helleman\"/></extension></family>\
             <given value=\"Johan\"><extension url=\"{QUALIFIER}\"><valueCode value=\"BR\"/></extension></given>\
             <given value=\"Johan\"><extension url=\"{QUALIFIER}\"><valueCode value=\"CL\"/></extension></given>\
             <given value=\"J.\"><extension url=\"{QUALIFIER}\"><valueCode value=\"IN\"/></extension></given></name>"
        ));
        assert_eq!(n.given.as_deref(), Some("Johan"), "the call name is not a second given name");
        assert_eq!(n.call.as_deref(), Some("Johan"));
        assert_eq!(n.initials.as_deref(), Some("J."));
        assert_eq!((n.own_prefix.as_deref(), n.own.as_deref()), (Some("van"), Some("Putten")));
        assert_eq!(n.partner.as_deref(), Some("Helleman"));
        assert_eq!(n.usage, Some("N"));
    }

    #[test]
    fn a_family_name_without_parts_loses_only_its_prefix() {
        let n = name(&format!(
            "<name><family value=\"de Wit\"><extension url=\"{SD}humanname-own-prefix\"><valueString value=\"de\"/></extension></family></name>"
        ));
        assert_eq!((n.own_prefix.as_deref(), n.own.as_deref()), (Some("de"), Some("Wit")));
        let n = name("<name><family value=\"van Partners\"/><given value=\"Peter\"/></name>");
        assert_eq!((n.own_prefix, n.own.as_deref(), n.given.as_deref()), (None, Some("van Partners"), Some("Peter")));
    }
}
