//! A ClientHello gathered from TCP segments in sequence order.

use super::{locate, Hello, CLIENT_HELLO, MAX_HELLO};

/// The client's first bytes gathered in sequence order until the ClientHello is whole.
/// Holds at most [`MAX_HELLO`] bytes; allocates once per flow that needs it, as much as the
/// first segment says the hello takes (and again only if a later record asks for more).
#[derive(Clone, Debug)]
pub struct Gather {
    bytes: Vec<u8>,
    next_seq: u32,
    gap: bool,
}

impl Gather {
    /// Starts with the first client segment's payload, `first_seq` the sequence number of
    /// its first byte.
    pub fn new(first_seq: u32, first: &[u8]) -> Gather {
        let expected = match locate(first, CLIENT_HELLO) {
            Hello::Incomplete { need } => need,
            _ => first.len(),
        };
        let mut bytes = Vec::with_capacity(expected.min(MAX_HELLO));
        bytes.extend_from_slice(&first[..first.len().min(MAX_HELLO)]);
        Gather {
            bytes,
            next_seq: first_seq.wrapping_add(first.len() as u32),
            gap: false,
        }
    }

    /// A later client segment. What is not next in sequence is ignored: bytes already held
    /// (a retransmission, or the part of an overlapping segment before the next byte), and
    /// a segment that starts further on, which leaves a gap: [`Gather::usable`] is false
    /// from then on.
    pub fn push(&mut self, seq: u32, data: &[u8]) {
        if self.gap {
            return;
        }
        let ahead = seq.wrapping_sub(self.next_seq) as i32;
        if ahead > 0 {
            self.gap = true;
            return;
        }
        let skip = ahead.unsigned_abs() as usize;
        let Some(new) = data.get(skip..).filter(|new| !new.is_empty()) else {
            return;
        };
        let room = MAX_HELLO - self.bytes.len();
        self.bytes.extend_from_slice(&new[..new.len().min(room)]);
        self.next_seq = self.next_seq.wrapping_add(new.len() as u32);
    }

    /// The bytes gathered, from the first.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// False once a segment was missed: the bytes can no longer become a whole hello.
    pub fn usable(&self) -> bool {
        !self.gap
    }
}
