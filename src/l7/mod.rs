//! Application-layer parsers for the first payload of a flow: the DNS question, the HTTP/1.x
//! request line, Host header and status code, and the TLS ClientHello (SNI, ALPN, JA4, JA3)
//! and ServerHello.
//!
//! All of them are pure: bytes in, fields out, no I/O. They never panic on any input (every
//! read is bounds-checked), allocate nothing (strings are kept inline in [`Bounded`]; the one
//! exception is [`tls::Gather`], which holds a ClientHello split over segments), and cost at
//! most a bounded amount per call: no loop runs on a count read from the wire without a bound.
#![forbid(unsafe_code)]

use std::fmt;

pub mod dns;
pub mod http;
pub mod tls;

#[cfg(test)]
mod tests;

/// A string of at most `N` bytes kept inline (no allocation). The bytes are as seen on the
/// wire, UTF-8 not guaranteed; what does not fit is cut at `N` bytes, and the call that cut
/// says so.
#[derive(Clone, Copy)]
pub struct Bounded<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> Bounded<N> {
    /// The length is kept in a `u16`.
    const FITS: () = assert!(N <= u16::MAX as usize, "Bounded holds at most 65535 bytes");

    /// The empty string.
    pub const fn new() -> Self {
        let () = Self::FITS;
        Bounded {
            len: 0,
            bytes: [0; N],
        }
    }

    /// A string of `b`, cut to `N` bytes.
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut s = Self::new();
        s.push(b);
        s
    }

    /// The bytes held.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Replaces the content with `b`; false when `b` was cut to fit.
    pub fn set(&mut self, b: &[u8]) -> bool {
        self.clear();
        self.push(b)
    }

    /// Appends `b`, as much of it as fits; false when some of it was cut.
    pub fn push(&mut self, b: &[u8]) -> bool {
        let at = usize::from(self.len);
        let room = N - at;
        let take = b.len().min(room);
        self.bytes[at..at + take].copy_from_slice(&b[..take]);
        // `at + take <= N <= u16::MAX` (checked by FITS).
        self.len = (at + take) as u16;
        take == b.len()
    }

    /// Appends one byte; false when there was no room for it.
    pub fn push_byte(&mut self, b: u8) -> bool {
        self.push(&[b])
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bytes are held.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Empties the string.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The bytes as a `String`, invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

impl<const N: usize> Default for Bounded<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for Bounded<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

impl<const N: usize> PartialEq for Bounded<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for Bounded<N> {}

impl<const N: usize> PartialEq<str> for Bounded<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> PartialEq<&str> for Bounded<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// A big-endian `u16` at `at`, if the bytes are there.
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let pair = b.get(at..)?.first_chunk::<2>()?;
    Some(u16::from_be_bytes(*pair))
}
