//! IPFIX export of flow records tagged with the pod's Kubernetes identity.
//!
//! Implemented:
//! - RFC 7011 §3.1 message header (version 10, sequence number counting data records,
//!   options records included), §3.2 field specifiers with the enterprise bit, §3.3 sets,
//!   §3.4.1 template records, §3.4.2.2 options template records, §3.4.3 data records,
//!   §4 exporter statistics options, §6.1 data type encodings in network byte order,
//!   §7 variable-length strings (1-byte length, or 255 and a 2-byte length), §8 template
//!   management, §8.1 withdrawal of every template (sent before a stream session closes,
//!   understood by the decoder); no padding is written, no message exceeds the budget.
//! - RFC 7012 data types and the IANA elements podflow uses; RFC 5103 reverse elements
//!   (PEN 29305) for biflows; RFC 5655 message framing of IPFIX files and streams (decoder).
//! - RFC 5610 type records of the Kubernetes elements (encoder), and decoding of any
//!   enterprise element a type record describes (decoder).
//! - RFC 6183 (an IPFIX Mediator) and RFC 7119 (the original exporter's address and
//!   observation domain per record): records passed on byte for byte with what the
//!   mediator adds appended, their key fields read without decoding the rest (relay).
//!
//! Template ids are stable: 256 IPv4 flows, 257 IPv6 flows, 258 exporter statistics, 259
//! type records. The encoder is pure (bytes out, no I/O); the decoder serves the tests and
//! `podflow collect`, which read what podflow exported.
#![forbid(unsafe_code)]

mod decode;
mod elements;
mod encode;
mod framing;
pub mod relay;
mod template;
mod typeinfo;

pub use decode::{
    sets, template_set_records, whole_message, DataRecord, DecodeError, FieldSpec, Message,
    Session, Template, TemplateField, TemplateRecord, Value,
};
pub use elements::{
    DataType, Element, ElementIds, Ie, Registry, Semantics, DEFAULT_ENTERPRISE_NUMBER, FLOWMON_PEN,
    REVERSE_PEN, VARLEN,
};
pub use encode::{
    group_field_json, groups_of, put_octets, Counts, Encoded, Encoder, EncoderOptions,
    ExportRecord, HEADER_LEN, MAX_MESSAGE_LEN,
};
pub use framing::{peek_header, split_messages, Header, Messages};
pub use template::{
    data_template_id, group, group_masks, GROUP_FIELDS, TEMPLATE_ID_IPV4, TEMPLATE_ID_IPV6,
    TEMPLATE_ID_OPTIONS, TEMPLATE_ID_TYPE_INFO,
};
pub use typeinfo::TypeInfo;

#[cfg(test)]
mod tests;
