//! The text of JA4 and JA3: the two-character codes, the truncated SHA-256 of a list, and
//! the writer that feeds comma-separated hex or decimal values to a hash without
//! allocating.

use super::*;

/// JA4's two characters for a version.
pub(super) fn version_code(v: u16) -> [u8; 2] {
    *match v {
        0x0304 => b"13",
        0x0303 => b"12",
        0x0302 => b"11",
        0x0301 => b"10",
        0x0300 => b"s3",
        0x0002 => b"s2",
        0xfeff => b"d1",
        0xfefd => b"d2",
        0xfefc => b"d3",
        _ => b"00",
    }
}

/// JA4's two characters for the first ALPN protocol: its first and last bytes when both are
/// ASCII letters or digits, else the first and last digits of its hex form; "00" for none.
pub(super) fn alpn_code(first: Option<&[u8]>) -> [u8; 2] {
    match first {
        Some([a, .., z]) | Some([a @ z]) => {
            if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
                [*a, *z]
            } else {
                [HEX[usize::from(a >> 4)], HEX[usize::from(z & 0xf)]]
            }
        }
        _ => *b"00",
    }
}

/// A count as two decimal digits, 99 at most.
pub(super) fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// The first 12 hex digits of the SHA-256 of the text `feed` writes; twelve zeros when
/// `empty`, as JA4 writes an empty list.
pub(super) fn hash12(empty: bool, feed: impl FnOnce(&mut Text<'_>)) -> [u8; 12] {
    if empty {
        return [b'0'; 12];
    }
    let mut ctx = Context::new(&SHA256);
    let mut update = |b: &[u8]| ctx.update(b);
    let mut text = Text::new(&mut update);
    feed(&mut text);
    text.flush();
    let digest = ctx.finish();
    let mut out = [0; 12];
    for (pair, b) in out.chunks_exact_mut(2).zip(digest.as_ref()) {
        pair.copy_from_slice(&hex2(*b));
    }
    out
}

/// Text on its way to a digest, handed over a block at a time: a digest's update costs
/// more than the few bytes of a value.
pub(super) struct Text<'a> {
    update: &'a mut dyn FnMut(&[u8]),
    buf: [u8; 256],
    len: usize,
}

impl<'a> Text<'a> {
    pub(super) fn new(update: &'a mut dyn FnMut(&[u8])) -> Self {
        Text {
            update,
            buf: [0; 256],
            len: 0,
        }
    }

    pub(super) fn put(&mut self, b: &[u8]) {
        if self.len + b.len() > self.buf.len() {
            self.flush();
        }
        match self.buf.get_mut(self.len..self.len + b.len()) {
            Some(room) => {
                room.copy_from_slice(b);
                self.len += b.len();
            }
            None => (self.update)(b),
        }
    }

    /// `values`, each as `render` writes it, `sep` between them.
    pub(super) fn list(
        &mut self,
        values: impl Iterator<Item = u16>,
        sep: u8,
        render: fn(u16, &mut [u8; 5]) -> &[u8],
    ) {
        let mut buf = [0; 5];
        for (i, v) in values.enumerate() {
            if i > 0 {
                self.put(&[sep]);
            }
            self.put(render(v, &mut buf));
        }
    }

    /// Hands over what is held.
    pub(super) fn flush(&mut self) {
        (self.update)(&self.buf[..self.len]);
        self.len = 0;
    }
}

pub(super) const HEX: &[u8; 16] = b"0123456789abcdef";

pub(super) fn hex2(b: u8) -> [u8; 2] {
    [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]
}

/// Four lowercase hex digits.
pub(super) fn hex4(v: u16, buf: &mut [u8; 5]) -> &[u8] {
    let [hi, lo] = v.to_be_bytes();
    buf[..2].copy_from_slice(&hex2(hi));
    buf[2..4].copy_from_slice(&hex2(lo));
    &buf[..4]
}

/// Decimal digits, no leading zero.
pub(super) fn decimal(mut v: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[at..];
        }
    }
}
