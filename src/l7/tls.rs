//! TLS handshakes (RFC 8446 and RFC 5246): the ClientHello, with its SNI, offered ALPN,
//! highest offered version and JA4 and JA3 fingerprints, and the ServerHello's negotiated
//! version and cipher suite.
//!
//! The input is a direction's bytes from the start of the TCP payload: one or more handshake
//! records, the hello possibly split over records (RFC 8446 section 5.1) and, through
//! [`Gather`], over segments. GREASE values (RFC 8701) are left out of every list, as JA4 and
//! JA3 ask.
//!
//! JA4 follows FoxIO's specification (`technical_details/JA4.md` of FoxIO-LLC/ja4, TLS client
//! only): `t13d1516h2_8daaf6152771_e5627efa2ab1`. JA3 is Salesforce's, as tshark's
//! `tls.handshake.ja3` computes it: MD5 of `SSLVersion,Ciphers,Extensions,EllipticCurves,
//! EllipticCurvePointFormats`, decimal values joined by `-`.

use md5::{Digest, Md5};
use ring::digest::{Context, SHA256};

use super::Bounded;

/// The most stream bytes a hello may occupy, record headers included: a hello ending past
/// them is refused as not TLS, and [`Gather`] holds no more.
pub const MAX_HELLO: usize = 16 * 1024;

/// A TLS record's most plaintext bytes (RFC 8446 section 5.1).
const MAX_RECORD: usize = 1 << 14;
/// ContentType handshake.
const HANDSHAKE: u8 = 22;
/// HandshakeType client_hello and server_hello.
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;

/// Extension types read here (IANA TLS ExtensionType values).
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_ALPN: u16 = 16;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// What a parser makes of the bytes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello<T> {
    /// The hello is not whole yet: the stream must be at least `need` bytes long (more
    /// than it is) for the next step. Exact when the rest of the hello is in one record.
    Incomplete {
        /// The stream length needed.
        need: usize,
    },
    /// The bytes are not a TLS hello of the kind asked (or one over [`MAX_HELLO`]).
    NotTls,
    /// The hello, read.
    Done(T),
}

impl<T> Hello<T> {
    /// The same answer, what is done turned by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Hello<U> {
        match self {
            Hello::Done(t) => Hello::Done(f(t)),
            Hello::Incomplete { need } => Hello::Incomplete { need },
            Hello::NotTls => Hello::NotTls,
        }
    }
}

/// The transport the ClientHello came over: JA4's first character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TLS over TCP: `t`.
    Tcp,
    /// QUIC: `q`.
    Quic,
}

/// What a ClientHello tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The first host_name of the server_name extension, cut to 255 bytes.
    pub sni: Bounded<255>,
    /// The offered ALPN protocols, comma-separated, in order; cut to 128 bytes.
    pub alpn: Bounded<128>,
    /// The highest version offered: supported_versions without GREASE, else legacy_version.
    pub client_version: u16,
    /// JA4, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1` (36 bytes).
    pub ja4: Bounded<40>,
    /// JA3: the MD5 digest of the JA3 string.
    pub ja3: [u8; 16],
}

impl ClientHello {
    /// JA3 as 32 lowercase hex digits.
    pub fn ja3_hex(&self) -> Bounded<32> {
        let mut s = Bounded::new();
        for b in self.ja3 {
            s.push(&hex2(b));
        }
        s
    }
}

/// What a ServerHello tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version: supported_versions' selected_version, else legacy_version.
    pub version: u16,
    /// The selected cipher suite.
    pub cipher: u16,
}

/// Whether `payload` starts with a TLS handshake record header: content type 22, version
/// 3.0 to 3.4 (TLS 1.3 writes 3.1 or 3.3 there).
pub fn is_handshake_start(payload: &[u8]) -> bool {
    matches!(payload, [HANDSHAKE, 3, 0..=4, ..])
}

/// The ClientHello at the start of `stream`, the client's bytes from the start of the TCP
/// payload (one or more TLS records, the handshake message possibly split over records and
/// segments). `Incomplete { need }`: the stream length needed to go on; a hello that would
/// need more than [`MAX_HELLO`] bytes is refused as `NotTls`.
pub fn client_hello(stream: &[u8], transport: Transport) -> Hello<ClientHello> {
    with_message(stream, CLIENT_HELLO, |m| read_client_hello(m, transport))
}

/// The ServerHello at the start of `stream`, the server's bytes from the start of the TCP
/// payload; as [`client_hello`].
pub fn server_hello(stream: &[u8]) -> Hello<ServerHello> {
    with_message(stream, SERVER_HELLO, read_server_hello)
}

/// Finds the handshake message of type `kind` at the start of `stream` and reads it with
/// `read` (body after the 4-byte header): `NotTls` if `read` finds it malformed.
fn with_message<T>(stream: &[u8], kind: u8, read: impl FnOnce(&[u8]) -> Option<T>) -> Hello<T> {
    let done = |body: Option<T>| body.map_or(Hello::NotTls, Hello::Done);
    match locate(stream, kind) {
        Hello::Incomplete { need } => Hello::Incomplete { need },
        Hello::NotTls => Hello::NotTls,
        Hello::Done(Found::Whole(message)) => done(read(&message[4..])),
        Hello::Done(Found::Spread(len)) => {
            let mut joined = [0u8; MAX_HELLO];
            let message = join(stream, len, &mut joined);
            done(read(&message[4..]))
        }
    }
}

/// Where a handshake message lies in the stream.
enum Found<'a> {
    /// All in the first record: the message, header included.
    Whole(&'a [u8]),
    /// Over several records: the message's length, header included.
    Spread(usize),
}

/// Walks the handshake records at the start of `stream` as far as the first message, of
/// type `kind`, reaches.
fn locate(stream: &[u8], kind: u8) -> Hello<Found<'_>> {
    // The message's first four bytes (type and length), as they arrive.
    let mut head = [0u8; 4];
    let mut got = 0;
    let mut total: Option<usize> = None;
    let mut at = 0;
    loop {
        let header = &stream[at.min(stream.len())..];
        let starts_record = |h: &[u8]| matches!(h, [] | [HANDSHAKE] | [HANDSHAKE, 3, ..]);
        if !starts_record(header) || header.get(2).is_some_and(|&minor| minor > 4) {
            return Hello::NotTls;
        }
        let Some(len) = super::be16(header, 3).map(usize::from) else {
            return need(at + 5 + missing(total, got));
        };
        if len == 0 || len > MAX_RECORD {
            return Hello::NotTls;
        }
        let start = at + 5;
        let body = &header[5..header.len().min(5 + len)];
        let mut used = 0;
        while got < 4 && used < body.len() {
            head[got] = body[used];
            got += 1;
            used += 1;
        }
        if total.is_none() && got == 4 {
            if head[0] != kind {
                return Hello::NotTls;
            }
            let t =
                4 + (usize::from(head[1]) << 16 | usize::from(head[2]) << 8 | usize::from(head[3]));
            if start + t > MAX_HELLO {
                return Hello::NotTls;
            }
            total = Some(t);
        }
        if let Some(t) = total {
            let take = (t - got).min(body.len() - used);
            got += take;
            used += take;
            if got == t {
                if start + used > MAX_HELLO {
                    return Hello::NotTls;
                }
                return Hello::Done(if at == 0 {
                    Found::Whole(&body[..t])
                } else {
                    Found::Spread(t)
                });
            }
        }
        let left_in_record = len - body.len();
        if left_in_record > 0 {
            // The stream ends inside this record.
            let missing = missing(total, got);
            let more = if missing > left_in_record { 5 } else { 0 };
            return need(stream.len() + missing + more);
        }
        at = start + len;
    }
}

/// The message bytes still missing when `got` of them are in: at least the rest of its
/// header while its length is unknown.
fn missing(total: Option<usize>, got: usize) -> usize {
    total.map_or(4 - got.min(4), |t| t - got)
}

/// `Incomplete { need }`, or `NotTls` past [`MAX_HELLO`].
fn need<T>(need: usize) -> Hello<T> {
    if need > MAX_HELLO {
        Hello::NotTls
    } else {
        Hello::Incomplete { need }
    }
}

/// Copies the `len` bytes of the message that [`locate`] found spread over the records of
/// `stream` into `out`.
fn join<'o>(stream: &[u8], len: usize, out: &'o mut [u8; MAX_HELLO]) -> &'o [u8] {
    let mut got = 0;
    let mut at = 0;
    while got < len {
        let Some(record) = super::be16(stream, at + 3).map(usize::from) else {
            break;
        };
        let body = stream.get(at + 5..).unwrap_or_default();
        let take = record.min(body.len()).min(len - got);
        out[got..got + take].copy_from_slice(&body[..take]);
        got += take;
        at += 5 + record;
    }
    &out[..got]
}

/// Reads a ClientHello body (RFC 8446 section 4.1.2).
fn read_client_hello(body: &[u8], transport: Transport) -> Option<ClientHello> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    r.take(32)?;
    if r.vec8()?.len() > 32 {
        return None;
    }
    let ciphers = r.vec16()?;
    if ciphers.len() % 2 != 0 {
        return None;
    }
    r.vec8()?;
    let extensions = if r.0.is_empty() { &[][..] } else { r.vec16()? };
    // A malformed extension makes the whole hello so.
    if Extensions(Reader(extensions)).any(|e| e.is_none()) {
        return None;
    }
    let exts = || Extensions(Reader(extensions)).map_while(|e| e);
    let find = |kind: u16| exts().find(|&(t, _)| t == kind).map(|(_, data)| data);

    let mut hello = ClientHello {
        sni: Bounded::new(),
        alpn: Bounded::new(),
        client_version: legacy_version,
        ja4: Bounded::new(),
        ja3: [0; 16],
    };
    let has_sni = find(EXT_SERVER_NAME).is_some();
    if let Some(name) = find(EXT_SERVER_NAME).and_then(host_name) {
        hello.sni.set(name);
    }
    let mut first_alpn = None;
    if let Some(data) = find(EXT_ALPN) {
        for (i, protocol) in alpn_protocols(data).enumerate() {
            if i == 0 {
                first_alpn = Some(protocol);
            } else {
                hello.alpn.push_byte(b',');
            }
            hello.alpn.push(protocol);
        }
    }
    let offered = find(EXT_SUPPORTED_VERSIONS).map(|data| {
        let list = Reader(data).vec8().unwrap_or_default();
        u16s(list).filter(|&v| !grease(v)).max()
    });
    if let Some(Some(highest)) = offered {
        hello.client_version = highest;
    }
    let sigalgs = find(EXT_SIGNATURE_ALGORITHMS)
        .map(|data| Reader(data).vec16().unwrap_or_default())
        .unwrap_or_default();

    // JA4 section a, then the two hashes over sorted copies of the lists.
    let mut sorted = [0u16; MAX_HELLO / 2];
    // The hello fits in MAX_HELLO bytes, its cipher list in half as many u16s.
    let (sorted_ciphers, rest) = sorted.split_at_mut((ciphers.len() / 2).min(MAX_HELLO / 2));
    let mut n_ciphers = 0;
    for c in u16s(ciphers).filter(|&c| !grease(c)) {
        sorted_ciphers[n_ciphers] = c;
        n_ciphers += 1;
    }
    let sorted_ciphers = &mut sorted_ciphers[..n_ciphers];
    sorted_ciphers.sort_unstable();
    let mut n_exts = 0;
    let mut n_hashed = 0;
    for (t, _) in exts().filter(|&(t, _)| !grease(t)) {
        n_exts += 1;
        if t != EXT_SERVER_NAME && t != EXT_ALPN {
            // Every extension takes 4 bytes or more: they fit beside the ciphers.
            if let Some(slot) = rest.get_mut(n_hashed) {
                *slot = t;
                n_hashed += 1;
            }
        }
    }
    let sorted_exts = &mut rest[..n_hashed];
    sorted_exts.sort_unstable();

    let ja4 = &mut hello.ja4;
    ja4.push_byte(match transport {
        Transport::Tcp => b't',
        Transport::Quic => b'q',
    });
    ja4.push(&version_code(hello.client_version));
    ja4.push_byte(if has_sni { b'd' } else { b'i' });
    ja4.push(&two_digits(n_ciphers));
    ja4.push(&two_digits(n_exts));
    ja4.push(&alpn_code(first_alpn));
    ja4.push_byte(b'_');
    ja4.push(&hash12(sorted_ciphers.is_empty(), |sha| {
        feed_list(sha, sorted_ciphers.iter().copied(), b',', hex4);
    }));
    ja4.push_byte(b'_');
    ja4.push(&hash12(sorted_exts.is_empty(), |sha| {
        feed_list(sha, sorted_exts.iter().copied(), b',', hex4);
        let mut sigalgs = u16s(sigalgs).filter(|&s| !grease(s)).peekable();
        if sigalgs.peek().is_some() {
            sha(b"_");
            feed_list(sha, sigalgs, b',', hex4);
        }
    }));

    let mut md5 = Md5::new();
    let mut ja3 = |b: &[u8]| md5.update(b);
    feed_list(&mut ja3, [legacy_version].into_iter(), b'-', decimal);
    ja3(b",");
    feed_list(
        &mut ja3,
        u16s(ciphers).filter(|&c| !grease(c)),
        b'-',
        decimal,
    );
    ja3(b",");
    let types = exts().map(|(t, _)| t).filter(|&t| !grease(t));
    feed_list(&mut ja3, types, b'-', decimal);
    ja3(b",");
    let groups = find(EXT_SUPPORTED_GROUPS).and_then(|data| Reader(data).vec16());
    let groups = u16s(groups.unwrap_or_default()).filter(|&g| !grease(g));
    feed_list(&mut ja3, groups, b'-', decimal);
    ja3(b",");
    let formats = find(EXT_EC_POINT_FORMATS).and_then(|data| Reader(data).vec8());
    let formats = formats.unwrap_or_default().iter().map(|&f| u16::from(f));
    feed_list(&mut ja3, formats, b'-', decimal);
    hello.ja3 = md5.finalize().into();
    Some(hello)
}

/// Reads a ServerHello body (RFC 8446 section 4.1.3; a HelloRetryRequest reads the same).
fn read_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    let legacy_version = r.u16()?;
    r.take(32)?;
    if r.vec8()?.len() > 32 {
        return None;
    }
    let cipher = r.u16()?;
    r.u8()?;
    let extensions = if r.0.is_empty() { &[][..] } else { r.vec16()? };
    let mut version = legacy_version;
    for e in Extensions(Reader(extensions)) {
        let (kind, data) = e?;
        if kind == EXT_SUPPORTED_VERSIONS {
            version = Reader(data).u16()?;
        }
    }
    Some(ServerHello { version, cipher })
}

/// The first host_name of a server_name extension (RFC 6066 section 3).
fn host_name(data: &[u8]) -> Option<&[u8]> {
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
fn alpn_protocols(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let list = match Reader(data).u16() {
        Some(len) => data[2..].get(..usize::from(len)).unwrap_or(&data[2..]),
        None => &[],
    };
    let mut r = Reader(list);
    std::iter::from_fn(move || r.vec8())
}

/// The extensions of an extension block: `(type, data)` each, `None` for a malformed one,
/// after which there are no more.
struct Extensions<'a>(Reader<'a>);

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
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// The big-endian `u16`s of `b` (an odd last byte left out).
fn u16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]))
}

/// A GREASE value (RFC 8701 section 2): 0x0a0a, 0x1a1a, ... 0xfafa.
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// JA4's two characters for a version.
fn version_code(v: u16) -> [u8; 2] {
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
fn alpn_code(first: Option<&[u8]>) -> [u8; 2] {
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
fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99) as u8;
    [b'0' + n / 10, b'0' + n % 10]
}

/// The first 12 hex digits of the SHA-256 of what `feed` gives it; twelve zeros when
/// `empty`, as JA4 writes an empty list.
fn hash12(empty: bool, feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> [u8; 12] {
    if empty {
        return [b'0'; 12];
    }
    let mut ctx = Context::new(&SHA256);
    feed(&mut |b: &[u8]| ctx.update(b));
    let digest = ctx.finish();
    let mut out = [0; 12];
    for (pair, b) in out.chunks_exact_mut(2).zip(digest.as_ref()) {
        pair.copy_from_slice(&hex2(*b));
    }
    out
}

/// Feeds `values` to `sink`, each as `render` writes it, `sep` between them.
fn feed_list(
    sink: &mut dyn FnMut(&[u8]),
    values: impl Iterator<Item = u16>,
    sep: u8,
    render: fn(u16, &mut [u8; 5]) -> &[u8],
) {
    let mut buf = [0; 5];
    for (i, v) in values.enumerate() {
        if i > 0 {
            sink(&[sep]);
        }
        sink(render(v, &mut buf));
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex2(b: u8) -> [u8; 2] {
    [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]
}

/// Four lowercase hex digits.
fn hex4(v: u16, buf: &mut [u8; 5]) -> &[u8] {
    let [hi, lo] = v.to_be_bytes();
    buf[..2].copy_from_slice(&hex2(hi));
    buf[2..4].copy_from_slice(&hex2(lo));
    &buf[..4]
}

/// Decimal digits, no leading zero.
fn decimal(mut v: u16, buf: &mut [u8; 5]) -> &[u8] {
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
