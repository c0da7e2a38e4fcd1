//! The FHIR wire: versions, Bundles, OperationOutcomes, CapabilityStatements. The only
//! module (with `http`) that knows how resources are serialized.

mod bundle;
mod capability;
mod generated;
mod outcome;
mod xml;

pub use bundle::{searchset, BundleEntry, SearchMode};
pub use capability::{capability_statement, ServedResource};
pub use outcome::{IssueType, OperationOutcome};
pub use xml::{element, repeats, to_xml, ElementKind, XmlError};

/// The FHIR versions the connector serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FhirVersion {
    Stu3,
    R4,
}

impl FhirVersion {
    pub fn name(self) -> &'static str {
        match self {
            FhirVersion::Stu3 => "STU3",
            FhirVersion::R4 => "R4",
        }
    }

    /// The technical version announced in the CapabilityStatement.
    pub fn release(self) -> &'static str {
        match self {
            // zib2017 profiles declare 3.0.2 (the STU3 technical correction).
            FhirVersion::Stu3 => "3.0.2",
            FhirVersion::R4 => "4.0.1",
        }
    }
}

/// FHIR's id syntax: 1 to 64 letters, digits, `-` and `.`.
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

pub fn is_resource_type(version: FhirVersion, name: &str) -> bool {
    let types = match version {
        FhirVersion::Stu3 => generated::stu3::RESOURCE_TYPES,
        FhirVersion::R4 => generated::r4::RESOURCE_TYPES,
    };
    types.binary_search(&name).is_ok()
}

/// The element paths a reference search parameter of `resource` follows (its definition's
/// expression), for `_include` by name; `None` for a parameter the version does not define.
pub fn reference_paths(version: FhirVersion, resource: &str, param: &str) -> Option<&'static [&'static str]> {
    let table = match version {
        FhirVersion::Stu3 => generated::stu3::REFERENCE_PARAMS,
        FhirVersion::R4 => generated::r4::REFERENCE_PARAMS,
    };
    table.binary_search_by(|(r, p, _)| (*r, *p).cmp(&(resource, param))).ok().map(|i| table[i].2)
}

/// The JSON and XML media types of FHIR (the same for STU3 and R4).
pub const JSON_MIME: &str = "application/fhir+json";
pub const XML_MIME: &str = "application/fhir+xml";

/// A resource as the engine built it: its type and id, and the JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    pub id: String,
    pub json: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_resource_types_per_version() {
        assert!(is_resource_type(FhirVersion::Stu3, "ProcedureRequest"));
        assert!(!is_resource_type(FhirVersion::R4, "ProcedureRequest"));
        assert!(is_resource_type(FhirVersion::R4, "ServiceRequest"));
        assert!(!is_resource_type(FhirVersion::Stu3, "Resource"));
    }

    #[test]
    fn reference_parameters_name_their_element_paths() {
        assert_eq!(
            reference_paths(FhirVersion::Stu3, "MedicationRequest", "medication"),
            Some(&["medicationReference"][..])
        );
        assert_eq!(reference_paths(FhirVersion::Stu3, "Observation", "related-target"), Some(&["related.target"][..]));
        assert_eq!(reference_paths(FhirVersion::R4, "Immunization", "performer"), Some(&["performer.actor"][..]));
        assert_eq!(reference_paths(FhirVersion::Stu3, "Patient", "no-such-parameter"), None);
    }
}
