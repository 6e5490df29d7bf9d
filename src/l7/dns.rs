//! The DNS message in one UDP payload (RFC 1035 section 4.1): its header and first question.
//!
//! The query name is given dotted, without the trailing dot, its labels as sent (case kept,
//! no byte escaped): the form tshark shows as `dns.qry.name`. The root, whose dotted form
//! would be empty, is `<Root>` as in tshark, so that an empty name never stands for one.
//! Compression pointers (section 4.1.4) are followed, each strictly before the one that
//! led to it, so a name is read in bounded time whatever the pointers say.

use super::{be16, Bounded};

/// The most questions a message may announce and still be taken for DNS: real queries ask
/// one, and a larger count is a sign of some other protocol on the port.
pub const MAX_QUESTIONS: u16 = 4;

/// The name of the root zone, as tshark writes it.
pub const ROOT: &[u8] = b"<Root>";

/// A name's most octets on the wire, length octets and the final zero included (RFC 1035
/// section 2.3.4).
const MAX_NAME_WIRE: usize = 255;

/// The most compression pointers followed in one name. Each points strictly before the
/// previous one, which already bounds them; this bounds them tighter.
const MAX_POINTERS: usize = 32;

/// The header and first question of a DNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dns {
    /// Transaction ID.
    pub id: u16,
    /// The header's flags word: QR, opcode, AA, TC, RD, RA, Z, AD, CD and RCODE.
    pub flags: u16,
    /// QR: the message is a response.
    pub response: bool,
    /// RCODE, the low four bits of the flags.
    pub rcode: u8,
    /// QTYPE of the first question.
    pub qtype: u16,
    /// QCLASS of the first question.
    pub qclass: u16,
    /// QDCOUNT.
    pub questions: u16,
    /// ANCOUNT.
    pub answers: u16,
    /// QNAME of the first question, dotted, no trailing dot; [`ROOT`] for the root.
    pub name: Bounded<255>,
}

/// The DNS message carried in one UDP payload: header and first question. `None` if it is
/// not DNS: the header is short, QDCOUNT is 0 or over [`MAX_QUESTIONS`], the opcode is not
/// QUERY, IQUERY, STATUS, NOTIFY or UPDATE (0, 1, 2, 4, 5), or the first question is cut
/// or malformed (a label of a reserved type, a name over 255 octets, a pointer forward).
pub fn parse(payload: &[u8]) -> Option<Dns> {
    let id = be16(payload, 0)?;
    let flags = be16(payload, 2)?;
    let questions = be16(payload, 4)?;
    let answers = be16(payload, 6)?;
    // NSCOUNT and ARCOUNT complete the 12-byte header.
    be16(payload, 10)?;
    if questions == 0 || questions > MAX_QUESTIONS {
        return None;
    }
    if !matches!((flags >> 11) & 0xf, 0 | 1 | 2 | 4 | 5) {
        return None;
    }
    let mut name = Bounded::new();
    let end = read_name(payload, 12, &mut name)?;
    let qtype = be16(payload, end)?;
    let qclass = be16(payload, end + 2)?;
    Some(Dns {
        id,
        flags,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0xf) as u8,
        qtype,
        qclass,
        questions,
        answers,
        name,
    })
}

/// Reads the name at `start` of `msg` into `out`, dotted; the offset just after the name
/// where it starts (after its first pointer, if any). `None` if it is malformed.
fn read_name(msg: &[u8], start: usize, out: &mut Bounded<255>) -> Option<usize> {
    let mut at = start;
    // A pointer must point before this: where the part of the name being read began.
    let mut limit = start;
    let mut after = None;
    let mut pointers = 0;
    // Octets of the name on the wire so far, the final zero included.
    let mut wire = 1;
    loop {
        let len = *msg.get(at)?;
        match len & 0xc0 {
            0x00 if len == 0 => break,
            0x00 => {
                let label = msg.get(at + 1..at + 1 + usize::from(len))?;
                wire += 1 + label.len();
                if wire > MAX_NAME_WIRE {
                    return None;
                }
                if !out.is_empty() {
                    out.push_byte(b'.');
                }
                // At most 253 bytes in all (255 octets less the first length and the zero).
                out.push(label);
                at += 1 + label.len();
            }
            0xc0 => {
                let low = *msg.get(at + 1)?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                pointers += 1;
                if target >= limit || pointers > MAX_POINTERS {
                    return None;
                }
                after.get_or_insert(at + 2);
                limit = target;
                at = target;
            }
            // 0x40 and 0x80: extended and reserved label types (RFC 6891 section 5).
            _ => return None,
        }
    }
    if out.is_empty() {
        out.set(ROOT);
    }
    Some(after.unwrap_or(at + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query header with one question, then `question`.
    fn query(question: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(question);
        m
    }

    #[test]
    fn a_pointer_to_itself_or_forward_is_refused() {
        // The name is a pointer to offset 12: itself.
        assert_eq!(parse(&query(&[0xc0, 12, 0, 1, 0, 1])), None);
        // A label, then a pointer back to the label: a loop through the label.
        assert_eq!(parse(&query(&[1, b'a', 0xc0, 12, 0, 1, 0, 1])), None);
        // Forward, past the name.
        assert_eq!(parse(&query(&[0xc0, 14, 0, 1, 0, 1, 1, b'a', 0])), None);
    }

    #[test]
    fn pointers_back_into_the_header_are_followed_and_bounded() {
        // A chain of pointers, each to the one before it, ending on a label in the header
        // (bytes 8..12: NSCOUNT and ARCOUNT hold "\x02ab\x00" here).
        let mut m = query(&[]);
        m[8..12].copy_from_slice(&[2, b'a', b'b', 0]);
        // Pointer at 12 -> 8.
        m.extend_from_slice(&[0xc0, 8, 0, 1, 0, 1]);
        let dns = parse(&m).unwrap();
        assert_eq!(dns.name, "ab");
        assert_eq!((dns.qtype, dns.qclass), (1, 1));
    }

    #[test]
    fn a_long_chain_of_backward_pointers_stops_at_the_bound() {
        // Pointers at 12, 14, 16, ... each to the one before; the name starts at the last.
        let n = MAX_POINTERS + 2;
        let mut m = query(&[]);
        m[8..12].copy_from_slice(&[1, b'x', 0, 0]);
        for i in 0..n {
            let to = if i == 0 { 8 } else { 12 + 2 * (i - 1) };
            m.extend_from_slice(&[0xc0, to as u8]);
        }
        m.extend_from_slice(&[0, 1, 0, 1]);
        let last = 12 + 2 * (n - 1);
        let mut name = Bounded::new();
        assert_eq!(read_name(&m, last, &mut name), None);
        name.clear();
        let short = 12 + 2 * (MAX_POINTERS - 1);
        assert_eq!(read_name(&m, short, &mut name), Some(short + 2));
        assert_eq!(name, "x");
    }
}
