//! TLS handshakes (RFC 8446 and RFC 5246): the ClientHello, with its SNI, offered ALPN,
//! highest offered version and JA4 and JA3 fingerprints, and the ServerHello's negotiated
//! version and cipher suite.
//!
//! The input is a direction's bytes from the start of the TCP payload: one or more handshake
//! records, the hello possibly split over records (RFC 8446 section 5.1) and, through
//! [`Gather`], over segments. GREASE values (RFC 8701) are left out of every list, as JA4 and
//! JA3 ask.
//!
//! The parsers allocate nothing: a hello spread over records is joined in a buffer of [`MAX_HELLO`]
//! bytes on the stack, and the lists JA4 sorts are sorted in a copy on the stack too (512
//! bytes for most hellos, 16 KiB for those with hundreds of ciphers and extensions).
//!
//! JA4 follows FoxIO's specification (`technical_details/JA4.md` of FoxIO-LLC/ja4, TLS client
//! only): `t13d1516h2_8daaf6152771_e5627efa2ab1`. JA3 is Salesforce's, as tshark's
//! `tls.handshake.ja3` computes it: MD5 of `SSLVersion,Ciphers,Extensions,EllipticCurves,
//! EllipticCurvePointFormats`, decimal values joined by `-`.
//!
//! Where FoxIO's implementations and their tests still differ from the specification, the
//! specification is followed: a first ALPN value that starts or ends with a byte other than
//! an ASCII letter or digit gives the first and last hex digits of its bytes (0xba 0xad:
//! "bd"), where they write "99".

use md5::{Digest, Md5};
use ring::digest::{Context, SHA256};

use super::Bounded;

mod fingerprint;
mod gather;
mod reader;

use fingerprint::*;
pub use gather::Gather;
use reader::*;

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
        if at + 5 > MAX_HELLO {
            // The rest of the message would end past MAX_HELLO: at most 2,731 records.
            return Hello::NotTls;
        }
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
        let take = record.min(body.len()).min(len.min(MAX_HELLO) - got);
        out[got..got + take].copy_from_slice(&body[..take]);
        got += take;
        at += 5 + record;
    }
    &out[..got]
}

/// Reads a ClientHello body (RFC 8446 section 4.1.2).
fn read_client_hello(body: &[u8], transport: Transport) -> Option<ClientHello> {
    let mut r = Reader(body);
    let legacy_version = r.hello_start()?;
    let ciphers = r.vec16()?;
    if !ciphers.len().is_multiple_of(2) {
        return None;
    }
    r.vec8()?;
    let extensions = r.extension_block()?;
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

    let n_ciphers = u16s(ciphers).filter(|&c| !grease(c)).count();
    let n_exts = exts().filter(|&(t, _)| !grease(t)).count();
    let types = exts().map(|(t, _)| t);
    // Most hellos' lists fit a small array to sort; any hello's fit MAX_HELLO / 2 u16s.
    let [ciphers_hash, exts_hash] = if n_ciphers + n_exts <= 256 {
        sorted_hashes::<256>(ciphers, types, sigalgs)
    } else {
        sorted_hashes::<{ MAX_HELLO / 2 }>(ciphers, types, sigalgs)
    };

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
    ja4.push(&ciphers_hash);
    ja4.push_byte(b'_');
    ja4.push(&exts_hash);

    let mut md5 = Md5::new();
    let mut update = |b: &[u8]| md5.update(b);
    let mut ja3 = Text::new(&mut update);
    ja3.list([legacy_version].into_iter(), b'-', decimal);
    ja3.put(b",");
    ja3.list(u16s(ciphers).filter(|&c| !grease(c)), b'-', decimal);
    ja3.put(b",");
    ja3.list(
        exts().map(|(t, _)| t).filter(|&t| !grease(t)),
        b'-',
        decimal,
    );
    ja3.put(b",");
    let groups = find(EXT_SUPPORTED_GROUPS).and_then(|data| Reader(data).vec16());
    ja3.list(
        u16s(groups.unwrap_or_default()).filter(|&g| !grease(g)),
        b'-',
        decimal,
    );
    ja3.put(b",");
    let formats = find(EXT_EC_POINT_FORMATS).and_then(|data| Reader(data).vec8());
    ja3.list(
        formats.unwrap_or_default().iter().map(|&f| u16::from(f)),
        b'-',
        decimal,
    );
    ja3.flush();
    hello.ja3 = md5.finalize().into();
    Some(hello)
}

/// JA4's sections b and c: the hashes of the sorted cipher suites, and of the sorted
/// extension types but SNI and ALPN followed by the signature algorithms in their order;
/// GREASE left out. `N` must hold the ciphers and extension types together.
fn sorted_hashes<const N: usize>(
    ciphers: &[u8],
    types: impl Iterator<Item = u16>,
    sigalgs: &[u8],
) -> [[u8; 12]; 2] {
    let mut sorted = [0u16; N];
    let (sorted_ciphers, rest) = sorted.split_at_mut((ciphers.len() / 2).min(N));
    let sorted_ciphers = fill(sorted_ciphers, u16s(ciphers).filter(|&c| !grease(c)));
    sorted_ciphers.sort_unstable();
    let hashed = types.filter(|&t| !grease(t) && t != EXT_SERVER_NAME && t != EXT_ALPN);
    let sorted_exts = fill(rest, hashed);
    sorted_exts.sort_unstable();
    let b = hash12(sorted_ciphers.is_empty(), |text| {
        text.list(sorted_ciphers.iter().copied(), b',', hex4);
    });
    let c = hash12(sorted_exts.is_empty(), |text| {
        text.list(sorted_exts.iter().copied(), b',', hex4);
        let mut sigalgs = u16s(sigalgs).filter(|&s| !grease(s)).peekable();
        if sigalgs.peek().is_some() {
            text.put(b"_");
            text.list(sigalgs, b',', hex4);
        }
    });
    [b, c]
}

/// Writes `values` into `slots` from the start, as many as fit; the slots written.
fn fill(slots: &mut [u16], values: impl Iterator<Item = u16>) -> &mut [u16] {
    let mut n = 0;
    for (slot, v) in slots.iter_mut().zip(values) {
        *slot = v;
        n += 1;
    }
    &mut slots[..n]
}

/// Reads a ServerHello body (RFC 8446 section 4.1.3; a HelloRetryRequest reads the same).
fn read_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    let legacy_version = r.hello_start()?;
    let cipher = r.u16()?;
    r.u8()?;
    let extensions = r.extension_block()?;
    let mut version = legacy_version;
    for e in Extensions(Reader(extensions)) {
        let (kind, data) = e?;
        if kind == EXT_SUPPORTED_VERSIONS {
            version = Reader(data).u16()?;
        }
    }
    Some(ServerHello { version, cipher })
}
