//! Reading a hello's bytes: length-prefixed vectors, the extension list, server names,
//! ALPN lists and GREASE values, never past what the message holds.

/// The first host_name of a server_name extension (RFC 6066 section 3).
pub(super) fn host_name(data: &[u8]) -> Option<&[u8]> {
    let mut list = Reader(Reader(data).vec16()?);
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?;
        if kind == 0 {
            return Some(name);
        }
    }
    None
}

/// The protocols of an ALPN extension (RFC 7301 section 3.1), as far as they are whole:
/// a list longer than the extension gives what the extension holds.
pub(super) fn alpn_protocols(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let list = match Reader(data).u16() {
        Some(len) => data[2..].get(..usize::from(len)).unwrap_or(&data[2..]),
        None => &[],
    };
    let mut r = Reader(list);
    std::iter::from_fn(move || r.vec8())
}

/// The extensions of an extension block: `(type, data)` each, `None` for a malformed one,
/// after which there are no more.
pub(super) struct Extensions<'a>(pub(super) Reader<'a>);

impl<'a> Iterator for Extensions<'a> {
    type Item = Option<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0 .0.is_empty() {
            return None;
        }
        let ext = self.0.u16().zip(self.0.vec16());
        if ext.is_none() {
            self.0 = Reader(&[]);
        }
        Some(ext)
    }
}

/// A cursor over bytes whose every read is checked.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a one-byte length.
    pub(super) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length.
    pub(super) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// What both hellos start with: legacy_version (returned), random and
    /// legacy_session_id.
    pub(super) fn hello_start(&mut self) -> Option<u16> {
        let version = self.u16()?;
        self.take(32)?;
        let session_id = self.vec8()?;
        (session_id.len() <= 32).then_some(version)
    }

    /// A hello's extension block: empty when the hello ends before it (RFC 5246 section
    /// 7.4.1.2 lets hellos of TLS 1.2 and older go without).
    pub(super) fn extension_block(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            Some(&[])
        } else {
            self.vec16()
        }
    }
}

/// The big-endian `u16`s of `b` (an odd last byte left out).
pub(super) fn u16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]))
}

/// A GREASE value (RFC 8701 section 2): 0x0a0a, 0x1a1a, ... 0xfafa.
pub(super) fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}
