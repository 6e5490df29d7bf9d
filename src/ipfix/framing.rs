//! Message framing: the header (RFC 7011 §3.1) and the split of a byte stream, an IPFIX
//! file (RFC 5655) or a TCP stream, into messages by their header lengths.

use super::decode::{DecodeError, Result};
use super::encode::{HEADER_LEN, VERSION};

/// The message header (RFC 7011 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub length: u16,
    pub export_time: u32,
    pub sequence: u32,
    pub observation_domain_id: u32,
}

/// A bounds-checked reader over one message.
pub(super) struct Reader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let have = self.buf.len() - self.pos;
        if n > have {
            return Err(DecodeError::Truncated {
                what,
                offset: self.pos,
                need: n,
                have,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub(super) fn u16(&mut self, what: &'static str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Reads a message header and checks version and length; `Ok(None)` when fewer than 16
/// bytes are available. The message length is `header.length`.
pub fn peek_header(buf: &[u8]) -> Result<Option<Header>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let mut r = Reader { buf, pos: 0 };
    let header = Header {
        version: r.u16("header")?,
        length: r.u16("header")?,
        export_time: r.u32("header")?,
        sequence: r.u32("header")?,
        observation_domain_id: r.u32("header")?,
    };
    if header.version != VERSION {
        return Err(DecodeError::Version(header.version));
    }
    if usize::from(header.length) < HEADER_LEN {
        return Err(DecodeError::ShortLength {
            length: header.length,
        });
    }
    Ok(Some(header))
}

/// Splits a byte stream (an IPFIX file, RFC 5655, or bytes read from TCP) into messages by
/// their header lengths. An incomplete last message is reported as truncated.
pub fn split_messages(stream: &[u8]) -> Messages<'_> {
    Messages { rest: stream }
}

/// Iterator over the messages of a byte stream; stops after the first error.
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let outcome = match peek_header(self.rest) {
            Ok(Some(h)) if usize::from(h.length) <= self.rest.len() => {
                let (msg, rest) = self.rest.split_at(usize::from(h.length));
                self.rest = rest;
                return Some(Ok(msg));
            }
            Ok(Some(h)) => DecodeError::Truncated {
                what: "message",
                offset: 0,
                need: usize::from(h.length),
                have: self.rest.len(),
            },
            Ok(None) => DecodeError::Truncated {
                what: "message header",
                offset: 0,
                need: HEADER_LEN,
                have: self.rest.len(),
            },
            Err(e) => e,
        };
        self.rest = &[];
        Some(Err(outcome))
    }
}
