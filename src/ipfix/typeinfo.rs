//! Information Element type information (RFC 5610): what podflow tells collectors about
//! its own enterprise elements, in-band, so that a collector decodes them without a
//! definitions file; and what a collector learns from such records.
//!
//! One options template (id 259, RFC 5610 §3.9) whose scope is privateEnterpriseNumber
//! and informationElementId, with informationElementDataType, informationElementSemantics
//! and informationElementName; one options record per podflow element (the delays' unit,
//! microseconds, is in their names and the README). The RFC 5103 reverse
//! elements are not described: they are IANA elements under the reverse PEN, which every
//! collector that reads biflows knows.

use super::decode::{DataRecord, FieldSpec, Value};
use super::elements::{DataType, Ie, Registry};

impl DataType {
    /// informationElementDataType (RFC 5610 §3.1, the IANA "IPFIX Information Element Data
    /// Types" registry).
    pub fn code(self) -> u8 {
        match self {
            DataType::OctetArray => 0,
            DataType::Unsigned8 => 1,
            DataType::Unsigned16 => 2,
            DataType::Unsigned32 => 3,
            DataType::Unsigned64 => 4,
            DataType::String => 13,
            DataType::DateTimeMilliseconds => 15,
            DataType::Ipv4Address => 18,
            DataType::Ipv6Address => 19,
        }
    }

    /// The type of an informationElementDataType code, when it is one podflow decodes.
    pub fn from_code(code: u8) -> Option<DataType> {
        [
            DataType::OctetArray,
            DataType::Unsigned8,
            DataType::Unsigned16,
            DataType::Unsigned32,
            DataType::Unsigned64,
            DataType::String,
            DataType::DateTimeMilliseconds,
            DataType::Ipv4Address,
            DataType::Ipv6Address,
        ]
        .into_iter()
        .find(|t| t.code() == code)
    }
}

/// The elements a probe describes in type records: its Kubernetes elements, in id order
/// (not those only the mediator adds, which it describes itself).
pub fn described() -> impl Iterator<Item = Ie> {
    Ie::ALL
        .into_iter()
        .filter(|ie| ie.element().registry == Registry::Kubernetes && !ie.added_by_mediator())
}

/// What a type record says about one element, as a collector learns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeInfo {
    pub name: String,
    /// The informationElementDataType code as received.
    pub data_type_code: u8,
    /// The informationElementSemantics code as received (0 when absent).
    pub semantics: u8,
}

impl TypeInfo {
    /// The data type, when it is one podflow decodes; other types stay raw bytes.
    pub fn data_type(&self) -> Option<DataType> {
        DataType::from_code(self.data_type_code)
    }
}

/// The element a type record describes and what it says, when `record` is one: an
/// options record with privateEnterpriseNumber and informationElementId in its scope, a
/// data type and a name.
pub(super) fn learn(record: &DataRecord) -> Option<(FieldSpec, TypeInfo)> {
    if !record.is_options() {
        return None;
    }
    let scope = &record.fields[..usize::from(record.scope_fields).min(record.fields.len())];
    let iana = |ie: Ie, fields: &[(FieldSpec, Value)]| {
        let id = ie.element().id;
        fields
            .iter()
            .find(|(s, _)| s.pen == 0 && s.id == id)
            .map(|(_, v)| v.clone())
    };
    let number = |v: Option<Value>| match v {
        Some(Value::Unsigned(n)) => Some(n),
        _ => None,
    };
    let pen = number(iana(Ie::PrivateEnterpriseNumber, scope))?;
    let id = number(iana(Ie::InformationElementId, scope))?;
    let data_type_code = number(iana(Ie::InformationElementDataType, &record.fields))?;
    let semantics = number(iana(Ie::InformationElementSemantics, &record.fields)).unwrap_or(0);
    let Some(Value::String(name)) = iana(Ie::InformationElementName, &record.fields) else {
        return None;
    };
    let spec = FieldSpec {
        pen: u32::try_from(pen).ok()?,
        id: u16::try_from(id).ok()? & 0x7fff,
    };
    let info = TypeInfo {
        name,
        data_type_code: u8::try_from(data_type_code).ok()?,
        semantics: u8::try_from(semantics).unwrap_or(0),
    };
    Some((spec, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kubernetes_element_is_described_and_nothing_else() {
        let ids: Vec<u16> = described().map(|ie| ie.element().id).collect();
        let want: Vec<u16> = (1..=12)
            .chain(20..=25)
            .chain(40..=50)
            .chain(60..=65)
            .chain(80..=83)
            .chain(100..=105)
            .collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn data_type_codes_follow_the_registry_and_round_trip() {
        // Spot checks against the IANA registry.
        assert_eq!(DataType::Unsigned8.code(), 1);
        assert_eq!(DataType::String.code(), 13);
        assert_eq!(DataType::Ipv4Address.code(), 18);
        assert_eq!(DataType::Ipv6Address.code(), 19);
        for ie in Ie::ALL {
            let t = ie.element().data_type;
            assert_eq!(DataType::from_code(t.code()), Some(t));
        }
        assert_eq!(DataType::from_code(0), Some(DataType::OctetArray));
        assert_eq!(DataType::from_code(6), None, "float64 is not decoded");
    }
}
