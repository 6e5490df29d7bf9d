//! Records passed on as they came, for the mediator (RFC 6183): where a received
//! template's key fields lie, each record's bytes and keys read in one pass without
//! decoding the rest, and the output template that appends what the mediator adds. A
//! record is copied byte for byte, so every field the exporter sent (its own enterprise
//! fields, reverse elements, the exact encoding of a variable-length field) reaches the
//! collector unchanged. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::decode::{DecodeError, FieldSpec, Result, Template, TemplateField};
use super::elements::{Ie, VARLEN};

/// A field whose value the mediator reads from every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Other,
    Source4,
    Destination4,
    Source6,
    Destination6,
    SourcePort,
    DestinationPort,
    Protocol,
    /// flowStartSeconds/Milliseconds/Microseconds/Nanoseconds, and the end.
    Start(Unit),
    End(Unit),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Seconds,
    Milliseconds,
    /// NTP format (RFC 7011 §6.1.9, §6.1.10): seconds since 1900 and a binary fraction.
    Ntp,
}

fn role(field: &TemplateField) -> Role {
    if field.spec.pen != 0 {
        return Role::Other;
    }
    match (field.spec.id, field.length) {
        (8, 4) => Role::Source4,
        (12, 4) => Role::Destination4,
        (27, 16) => Role::Source6,
        (28, 16) => Role::Destination6,
        (7, 2) => Role::SourcePort,
        (11, 2) => Role::DestinationPort,
        (4, 1) => Role::Protocol,
        (150, 4) => Role::Start(Unit::Seconds),
        (151, 4) => Role::End(Unit::Seconds),
        (152, 8) => Role::Start(Unit::Milliseconds),
        (153, 8) => Role::End(Unit::Milliseconds),
        (154 | 156, 8) => Role::Start(Unit::Ntp),
        (155 | 157, 8) => Role::End(Unit::Ntp),
        _ => Role::Other,
    }
}

/// A received template as the mediator walks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub template: Template,
    roles: Vec<Role>,
    min_len: usize,
    /// The elements the mediator adds are already there: a record that went through a
    /// mediator before is passed on unchanged.
    pub enriched: bool,
}

/// What the mediator reads of a record: its ends, protocol and times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordKeys {
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    pub source_port: u16,
    pub destination_port: u16,
    pub protocol: u8,
    /// Milliseconds since 1970.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

/// One record: its bytes as received, and its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub bytes: &'a [u8],
    pub keys: RecordKeys,
}

impl Layout {
    pub fn new(template: Template, enterprise_number: u32) -> Layout {
        let roles = template.fields.iter().map(role).collect();
        let min_len = template.min_record_len().max(1);
        let class = Ie::K8sTrafficClass.element();
        let enriched = template.fields.iter().any(|f| {
            f.spec
                == FieldSpec {
                    pen: class.registry.pen(enterprise_number),
                    id: class.id,
                }
        });
        Layout {
            template,
            roles,
            min_len,
            enriched,
        }
    }

    /// Whether this is an options template (its records are passed on, not enriched).
    pub fn is_options(&self) -> bool {
        self.template.scope_fields > 0
    }

    /// The records of a data set's body (after its 4-byte header). Whatever is shorter
    /// than the shortest record at the end is padding (RFC 7011 §3.3.1).
    pub fn records<'a>(&'a self, body: &'a [u8]) -> Records<'a> {
        Records {
            layout: self,
            body,
            pos: 0,
        }
    }

    /// Reads the record at the start of `buf`: its length and keys.
    fn read(&self, buf: &[u8]) -> Result<(usize, RecordKeys)> {
        let mut keys = RecordKeys::default();
        let mut pos = 0;
        let truncated = |pos: usize, need: usize| DecodeError::Truncated {
            what: "relayed record",
            offset: pos,
            need,
            have: buf.len().saturating_sub(pos),
        };
        for (field, role) in self.template.fields.iter().zip(&self.roles) {
            let len = if field.length == VARLEN {
                let short = *buf.get(pos).ok_or_else(|| truncated(pos, 1))?;
                if short == 255 {
                    let long = buf.get(pos + 1..pos + 3).ok_or_else(|| truncated(pos, 3))?;
                    pos += 3;
                    usize::from(u16::from_be_bytes([long[0], long[1]]))
                } else {
                    pos += 1;
                    usize::from(short)
                }
            } else {
                usize::from(field.length)
            };
            let value = buf.get(pos..pos + len).ok_or_else(|| truncated(pos, len))?;
            pos += len;
            if *role != Role::Other {
                keys.set(*role, value);
            }
        }
        Ok((pos, keys))
    }
}

impl RecordKeys {
    /// Reads one key field; `value` has the length its role expects.
    fn set(&mut self, role: Role, value: &[u8]) {
        let u16_at = |v: &[u8]| u16::from_be_bytes([v[0], v[1]]);
        let v4 = |v: &[u8]| IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]));
        let v6 = |v: &[u8]| {
            let mut a = [0u8; 16];
            a.copy_from_slice(v);
            IpAddr::V6(Ipv6Addr::from(a))
        };
        match role {
            Role::Other => {}
            Role::Source4 => self.source = Some(v4(value)),
            Role::Destination4 => self.destination = Some(v4(value)),
            Role::Source6 => self.source = Some(v6(value)),
            Role::Destination6 => self.destination = Some(v6(value)),
            Role::SourcePort => self.source_port = u16_at(value),
            Role::DestinationPort => self.destination_port = u16_at(value),
            Role::Protocol => self.protocol = value[0],
            Role::Start(unit) => self.start_ms = time(unit, value).or(self.start_ms),
            Role::End(unit) => self.end_ms = time(unit, value).or(self.end_ms),
        }
    }
}

/// Milliseconds since 1970 of a time field, when it fits.
fn time(unit: Unit, v: &[u8]) -> Option<i64> {
    let be = |v: &[u8]| v.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
    match unit {
        Unit::Seconds => i64::try_from(be(v)).ok()?.checked_mul(1000),
        Unit::Milliseconds => i64::try_from(be(v)).ok(),
        Unit::Ntp => {
            // Seconds since 1900 less the 70 years (and 17 leap days) to 1970.
            const NTP_TO_UNIX: i64 = 2_208_988_800;
            let seconds = i64::try_from(be(&v[..4])).ok()? - NTP_TO_UNIX;
            let fraction = be(&v[4..]) as i64;
            Some(seconds * 1000 + ((fraction * 1000) >> 32))
        }
    }
}

/// The records of one data set, in order.
pub struct Records<'a> {
    layout: &'a Layout,
    body: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.body[self.pos..];
        if rest.len() < self.layout.min_len {
            return None;
        }
        match self.layout.read(rest) {
            Ok((len, keys)) => {
                self.pos += len;
                Some(Ok(Record {
                    bytes: &rest[..len],
                    keys,
                }))
            }
            Err(e) => {
                self.pos = self.body.len();
                Some(Err(e))
            }
        }
    }
}

/// A template record (RFC 7011 §3.4.1, §3.4.2) with id `id`: `fields` as received, then
/// `appended` (each a specifier and its length on the wire).
pub fn template_record(
    id: u16,
    scope_fields: u16,
    fields: &[TemplateField],
    appended: &[TemplateField],
    out: &mut Vec<u8>,
) {
    let count = (fields.len() + appended.len()) as u16;
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    if scope_fields > 0 {
        out.extend_from_slice(&scope_fields.to_be_bytes());
    }
    for f in fields.iter().chain(appended) {
        let enterprise = f.spec.pen != 0;
        let raw = f.spec.id | if enterprise { 0x8000 } else { 0 };
        out.extend_from_slice(&raw.to_be_bytes());
        out.extend_from_slice(&f.length.to_be_bytes());
        if enterprise {
            out.extend_from_slice(&f.spec.pen.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
