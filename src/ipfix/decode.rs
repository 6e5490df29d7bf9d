//! A small IPFIX collector core: parses messages (RFC 7011 §3), keeps the templates of
//! each observation domain (§8) and the type records (RFC 5610) it received, and decodes
//! data records, including enterprise-specific and variable-length fields (§3.2, §7).
//! Serves the tests and `podflow collect`; it reads anything, not only what podflow
//! writes, and returns errors rather than panicking.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::elements::{DataType, Ie, DEFAULT_ENTERPRISE_NUMBER, FLOWMON_PEN, VARLEN};
use super::encode::HEADER_LEN;
use super::framing::{peek_header, Header, Reader};
use super::template::{SET_ID_OPTIONS_TEMPLATE, SET_ID_TEMPLATE};
use super::typeinfo::{learn, TypeInfo};

/// What was wrong with the bytes, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {what} at offset {offset}: needs {need} bytes, {have} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("version {0} in the message header is not IPFIX (10)")]
    Version(u16),
    #[error("message length {length} in the header is shorter than the 16-byte header")]
    ShortLength { length: u16 },
    #[error("message length {length} in the header, but {actual} bytes were given")]
    LengthMismatch { length: usize, actual: usize },
    #[error(
        "set {set_id} at offset {offset} has length {length}, {room} bytes left in the message"
    )]
    SetLength {
        set_id: u16,
        offset: usize,
        length: usize,
        room: usize,
    },
    #[error("set id {set_id} at offset {offset} is reserved (0 and 1 are NetFlow v9's)")]
    ReservedSet { set_id: u16, offset: usize },
    #[error("template id {template_id} at offset {offset} is below 256")]
    TemplateId { template_id: u16, offset: usize },
    #[error("options template {template_id}: scope field count {scope} of {fields} fields")]
    ScopeCount {
        template_id: u16,
        scope: u16,
        fields: u16,
    },
    /// A field that would take no bytes: records of such templates could be read forever
    /// from no data, or multiply a few bytes into many values.
    #[error("template {template_id} at offset {offset} has a field of length 0")]
    EmptyField { template_id: u16, offset: usize },
}

/// The header of `msg`, which must be exactly one whole message.
pub fn whole_message(msg: &[u8]) -> Result<Header> {
    let header = peek_header(msg)?.ok_or(DecodeError::Truncated {
        what: "message header",
        offset: 0,
        need: HEADER_LEN,
        have: msg.len(),
    })?;
    if usize::from(header.length) != msg.len() {
        return Err(DecodeError::LengthMismatch {
            length: usize::from(header.length),
            actual: msg.len(),
        });
    }
    Ok(header)
}

/// `Result` with a [`DecodeError`].
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// An element as identified on the wire: enterprise number (0 for IANA) and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    pub pen: u32,
    pub id: u16,
}

/// One field of a template: which element, and its length (65535 = variable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateField {
    pub spec: FieldSpec,
    pub length: u16,
}

/// The sets of a message (id and body), checked to lie within it.
pub fn sets(msg: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    while at < msg.len() {
        let head = msg.get(at..at + 4).ok_or(DecodeError::Truncated {
            what: "set header",
            offset: at,
            need: 4,
            have: msg.len() - at,
        })?;
        let set_id = u16::from_be_bytes([head[0], head[1]]);
        let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let room = msg.len() - at;
        if length < 4 || length > room {
            return Err(DecodeError::SetLength {
                set_id,
                offset: at,
                length,
                room,
            });
        }
        if set_id < 2 {
            return Err(DecodeError::ReservedSet { set_id, offset: at });
        }
        out.push((set_id, &msg[at + 4..at + length]));
        at += length;
    }
    Ok(out)
}

/// A template or options template as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    /// Number of leading scope fields; 0 for a data template.
    pub scope_fields: u16,
    pub fields: Vec<TemplateField>,
}

impl Template {
    /// The fewest bytes a record of this template can take.
    pub fn min_record_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| {
                if f.length == VARLEN {
                    1
                } else {
                    usize::from(f.length)
                }
            })
            .sum()
    }
}

/// A decoded field value, typed by the element when podflow knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An unsigned integer (reduced-size encodings included).
    Unsigned(u64),
    /// A dateTimeMilliseconds: milliseconds since the Unix epoch.
    Milliseconds(u64),
    Ip(IpAddr),
    String(String),
    /// An unknown element, or a known one whose length or content does not fit its type.
    Bytes(Vec<u8>),
}

/// One data record, or options data record, with its fields in template order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRecord {
    pub template_id: u16,
    /// The first `scope_fields` fields are the scope of an options record.
    pub scope_fields: u16,
    pub fields: Vec<(FieldSpec, Value)>,
    enterprise_number: u32,
}

impl DataRecord {
    /// The value of the element with this name (e.g. `"k8sPodName"`,
    /// `"reverseOctetDeltaCount"`), first occurrence; an element sent under its Flowmon id
    /// (PEN 39499) is found by podflow's name too.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let ie = Ie::by_name(name)?;
        let e = ie.element();
        let spec = FieldSpec {
            pen: e.registry.pen(self.enterprise_number),
            id: e.id,
        };
        let flowmon = ie.flowmon().map(|f| FieldSpec {
            pen: FLOWMON_PEN,
            id: f.id,
        });
        self.fields
            .iter()
            .find(|(s, _)| *s == spec || Some(*s) == flowmon)
            .map(|(_, v)| v)
    }

    /// An unsigned or dateTimeMilliseconds value by name.
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::Unsigned(n) | Value::Milliseconds(n) => Some(*n),
            _ => None,
        }
    }

    /// A string value by name.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// An address value by name.
    pub fn get_ip(&self, name: &str) -> Option<IpAddr> {
        match self.get(name)? {
            Value::Ip(a) => Some(*a),
            _ => None,
        }
    }

    /// True for an options data record.
    pub fn is_options(&self) -> bool {
        self.scope_fields > 0
    }
}

/// Everything one message held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    /// Templates and options templates defined by this message.
    pub templates: Vec<Template>,
    pub records: Vec<DataRecord>,
    /// Ids of data sets skipped because their template was not known (yet).
    pub unknown_sets: Vec<u16>,
}

/// Templates and type records (RFC 5610) seen so far, per observation domain: the state
/// of one transport session.
#[derive(Clone, Debug)]
pub struct Session {
    enterprise_number: u32,
    templates: HashMap<(u32, u16), Template>,
    types: HashMap<(u32, FieldSpec), TypeInfo>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new(DEFAULT_ENTERPRISE_NUMBER)
    }
}

impl Session {
    /// A session that names Kubernetes elements under `enterprise_number`.
    pub fn new(enterprise_number: u32) -> Session {
        Session {
            enterprise_number,
            templates: HashMap::new(),
            types: HashMap::new(),
        }
    }

    /// What the type records of domain `domain` said about element `spec`.
    pub fn type_info(&self, domain: u32, spec: FieldSpec) -> Option<&TypeInfo> {
        self.types.get(&(domain, spec))
    }

    /// The name of element `spec` in domain `domain`: podflow's own for the elements it
    /// knows (the Kubernetes ones under this session's enterprise number), else the name a
    /// type record gave it.
    pub fn element_name(&self, domain: u32, spec: FieldSpec) -> Option<&str> {
        match Ie::by_id(spec.pen, spec.id, self.enterprise_number) {
            Some(ie) => Some(ie.element().name),
            None => self.type_info(domain, spec).map(|t| t.name.as_str()),
        }
    }

    /// The template `id` of observation domain `domain`, if one was received.
    pub fn template(&self, domain: u32, id: u16) -> Option<&Template> {
        self.templates.get(&(domain, id))
    }

    /// Decodes exactly one message; templates it defines are kept for later messages.
    pub fn decode(&mut self, msg: &[u8]) -> Result<Message> {
        let header = whole_message(msg)?;
        let domain = header.observation_domain_id;
        let mut out = Message {
            header,
            templates: Vec::new(),
            records: Vec::new(),
            unknown_sets: Vec::new(),
        };
        let mut r = Reader {
            buf: msg,
            pos: HEADER_LEN,
        };
        while r.remaining() > 0 {
            let offset = r.pos;
            let set_id = r.u16("set header")?;
            let length = usize::from(r.u16("set header")?);
            let room = r.remaining() + 4;
            if length < 4 || length > room {
                return Err(DecodeError::SetLength {
                    set_id,
                    offset,
                    length,
                    room,
                });
            }
            let body = Reader {
                buf: &msg[..offset + length],
                pos: offset + 4,
            };
            r.pos = offset + length;
            match set_id {
                0 | 1 => return Err(DecodeError::ReservedSet { set_id, offset }),
                SET_ID_TEMPLATE | SET_ID_OPTIONS_TEMPLATE => {
                    self.template_set(body, set_id, domain, &mut out)?
                }
                4..=255 => {}
                _ => match self.templates.get(&(domain, set_id)) {
                    Some(t) => {
                        let first = out.records.len();
                        let types = |spec: FieldSpec| {
                            let ie = Ie::by_id(spec.pen, spec.id, self.enterprise_number);
                            match ie {
                                Some(ie) => Some(ie.element().data_type),
                                None => self.types.get(&(domain, spec))?.data_type(),
                            }
                        };
                        data_set(body, t, self.enterprise_number, &types, &mut out.records)?;
                        for r in &out.records[first..] {
                            if let Some((spec, info)) = learn(r) {
                                self.types.insert((domain, spec), info);
                            }
                        }
                    }
                    None => out.unknown_sets.push(set_id),
                },
            }
        }
        Ok(out)
    }

    fn template_set(
        &mut self,
        r: Reader<'_>,
        set_id: u16,
        domain: u32,
        out: &mut Message,
    ) -> Result<()> {
        let options = set_id == SET_ID_OPTIONS_TEMPLATE;
        for record in template_records(r, set_id)? {
            match record {
                // Withdrawal (§8.1): one template, or all of this kind.
                TemplateRecord::WithdrawAll => self
                    .templates
                    .retain(|(d, _), t| *d != domain || (t.scope_fields > 0) != options),
                TemplateRecord::Withdraw(id) => {
                    self.templates.remove(&(domain, id));
                }
                TemplateRecord::Define(template) => {
                    self.templates
                        .insert((domain, template.id), template.clone());
                    out.templates.push(template);
                }
            }
        }
        Ok(())
    }
}

/// One record of a template or options template set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateRecord {
    Define(Template),
    /// Withdrawal of one template (§8.1).
    Withdraw(u16),
    /// Withdrawal of every template of the set's kind (§8.1: the template id is the set id).
    WithdrawAll,
}

/// The records of a template set (`set_id` 2) or options template set (3), checked as
/// RFC 7011 §3.4 asks: ids from 256, a scope count within the field count, no field of
/// length 0.
pub fn template_set_records(body: &[u8], set_id: u16) -> Result<Vec<TemplateRecord>> {
    template_records(Reader { buf: body, pos: 0 }, set_id)
}

fn template_records(mut r: Reader<'_>, set_id: u16) -> Result<Vec<TemplateRecord>> {
    let options = set_id == SET_ID_OPTIONS_TEMPLATE;
    let mut out = Vec::new();
    // Fewer than 4 bytes left cannot hold a record header: padding.
    while r.remaining() >= 4 {
        let offset = r.pos;
        let id = r.u16("template record")?;
        let count = r.u16("template record")?;
        if count == 0 {
            out.push(if id == set_id {
                TemplateRecord::WithdrawAll
            } else {
                TemplateRecord::Withdraw(id)
            });
            continue;
        }
        if id < 256 {
            return Err(DecodeError::TemplateId {
                template_id: id,
                offset,
            });
        }
        let scope_fields = if options {
            let scope = r.u16("options template record")?;
            if scope == 0 || scope > count {
                return Err(DecodeError::ScopeCount {
                    template_id: id,
                    scope,
                    fields: count,
                });
            }
            scope
        } else {
            0
        };
        let mut fields = Vec::with_capacity(usize::from(count).min(r.remaining() / 4));
        for _ in 0..count {
            let raw = r.u16("field specifier")?;
            let length = r.u16("field specifier")?;
            if length == 0 {
                return Err(DecodeError::EmptyField {
                    template_id: id,
                    offset,
                });
            }
            let pen = if raw & 0x8000 != 0 {
                r.u32("enterprise number")?
            } else {
                0
            };
            fields.push(TemplateField {
                spec: FieldSpec {
                    pen,
                    id: raw & 0x7fff,
                },
                length,
            });
        }
        out.push(TemplateRecord::Define(Template {
            id,
            scope_fields,
            fields,
        }));
    }
    Ok(out)
}

fn data_set(
    mut r: Reader<'_>,
    t: &Template,
    enterprise_number: u32,
    types: &dyn Fn(FieldSpec) -> Option<DataType>,
    records: &mut Vec<DataRecord>,
) -> Result<()> {
    let min = t.min_record_len().max(1);
    // Whatever is shorter than the shortest record is padding (§3.3.1).
    while r.remaining() >= min {
        let mut fields = Vec::with_capacity(t.fields.len());
        for f in &t.fields {
            let bytes = if f.length == VARLEN {
                let short = r.u8("variable-length field")?;
                let len = if short == 255 {
                    r.u16("variable-length field")?
                } else {
                    u16::from(short)
                };
                r.take(usize::from(len), "variable-length field")?
            } else {
                r.take(usize::from(f.length), "data record")?
            };
            fields.push((f.spec, value(types(f.spec), bytes)));
        }
        records.push(DataRecord {
            template_id: t.id,
            scope_fields: t.scope_fields,
            fields,
            enterprise_number,
        });
    }
    Ok(())
}

/// Interprets a field's bytes by the type of its element, when known.
fn value(data_type: Option<DataType>, bytes: &[u8]) -> Value {
    let number = || bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    match (data_type, bytes.len()) {
        (Some(DataType::String), _) => match std::str::from_utf8(bytes) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => Value::Bytes(bytes.to_vec()),
        },
        (Some(DataType::Ipv4Address), 4) => Value::Ip(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        (Some(DataType::Ipv6Address), 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            Value::Ip(IpAddr::V6(Ipv6Addr::from(a)))
        }
        (Some(DataType::DateTimeMilliseconds), 8) => Value::Milliseconds(number()),
        (
            Some(
                DataType::Unsigned8
                | DataType::Unsigned16
                | DataType::Unsigned32
                | DataType::Unsigned64,
            ),
            1..=8,
        ) => Value::Unsigned(number()),
        _ => Value::Bytes(bytes.to_vec()),
    }
}
