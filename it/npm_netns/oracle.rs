//! What tshark makes of a capture, per conversation: the handshake's times, the first
//! request and response payloads, the segments its sequence analysis flags, and the DNS,
//! HTTP and TLS fields it dissects. One tshark pass over the file, `-T fields`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use super::ja4::{ja4, ClientHello};

/// An address and port: one end of a conversation.
pub type End = (IpAddr, u16);

/// The fields read from every frame, in the order of the columns.
const FIELDS: &[&str] = &[
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.len",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "tcp.len",
    "tcp.analysis.initial_rtt",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.zero_window",
    "dns.flags.response",
    "dns.id",
    "dns.flags",
    "dns.qry.name",
    "dns.qry.type",
    "dns.flags.rcode",
    "dns.count.answers",
    "dns.time",
    "http.request.method",
    "http.request.uri",
    "http.host",
    "http.response.code",
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.ciphersuite",
    "tls.handshake.extension.type",
    "tls.handshake.sig_hash_alg",
    "tls.handshake.ja3",
];

/// What the sequence analysis said of the segments one end sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub packets: u64,
    /// Frames with TCP payload.
    pub payload_frames: u64,
    /// `tcp.analysis.retransmission` (tshark 4.0 also sets it on the fast and the
    /// spurious retransmissions), its frames and their IP octets.
    pub retransmission: u64,
    pub retransmission_octets: u64,
    pub fast_retransmission: u64,
    pub spurious_retransmission: u64,
    /// `tcp.analysis.out_of_order`, its frames and their IP octets.
    pub out_of_order: u64,
    pub out_of_order_octets: u64,
    /// `tcp.analysis.zero_window`: a window of zero advertised, SYN, FIN and RST aside.
    pub zero_window: u64,
}

/// The TCP handshake as the capture shows it (nanoseconds since the epoch).
#[derive(Clone, Copy, Debug)]
pub struct Handshake {
    /// The last SYN before the SYN/ACK (the one tshark's initial RTT starts from).
    pub syn: u64,
    pub syn_ack: u64,
    /// The ACK that completes the handshake.
    pub ack: u64,
    /// `tcp.analysis.initial_rtt`, microseconds.
    pub initial_rtt_us: u64,
}

impl Handshake {
    /// SYN -> SYN/ACK, microseconds.
    pub fn server_delay_us(&self) -> u64 {
        (self.syn_ack - self.syn) / 1000
    }
    /// SYN/ACK -> ACK, microseconds.
    pub fn client_delay_us(&self) -> u64 {
        (self.ack - self.syn_ack) / 1000
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dns {
    pub id: u16,
    pub name: String,
    pub qtype: u16,
    /// Of the response; the query's when none came.
    pub flags: u16,
    pub rcode: Option<u8>,
    pub answers: Option<u16>,
    /// `dns.time` of the response, microseconds.
    pub time_us: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Http {
    pub host: String,
    pub method: String,
    pub uri: String,
    pub status: Option<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub server_name: Option<String>,
    /// ALPN protocols the client offered, in order.
    pub alpn: Vec<String>,
    /// Highest version offered (supported_versions without GREASE, else legacy).
    pub client_version: u16,
    /// Negotiated: the ServerHello's supported_versions, else its version.
    pub version: Option<u16>,
    pub ja3: String,
    /// Computed from the dissected ClientHello.
    pub ja4: String,
}

/// One conversation (a 5-tuple, both directions).
#[derive(Clone, Debug)]
pub struct Conversation {
    /// The end that sent the SYN (TCP) or the first packet.
    pub initiator: End,
    pub responder: End,
    pub proto: u8,
    pub sent: HashMap<End, Sent>,
    pub handshake: Option<Handshake>,
    /// Times of the first payload frame of each end (nanoseconds since the epoch).
    pub first_payload: HashMap<End, u64>,
    /// Payload frames the initiator sent before the responder's first payload.
    pub request_frames: u64,
    pub dns: Option<Dns>,
    pub http: Option<Http>,
    pub tls: Option<Tls>,
}

impl Conversation {
    /// Whether this is the conversation between `a` and `b` (either way round).
    pub fn is(&self, a: End, b: End) -> bool {
        (self.initiator, self.responder) == (a, b) || (self.initiator, self.responder) == (b, a)
    }

    /// What `from` sent.
    pub fn sent_by(&self, from: End) -> Sent {
        self.sent.get(&from).cloned().unwrap_or_default()
    }

    /// The first payload of `client` to the first payload of the other end that followed
    /// it, microseconds; 0 when no response came.
    pub fn response_time_us(&self, client: End) -> u64 {
        let server = if client == self.initiator {
            self.responder
        } else {
            self.initiator
        };
        match (
            self.first_payload.get(&client),
            self.first_payload.get(&server),
        ) {
            (Some(&req), Some(&resp)) if resp > req => (resp - req) / 1000,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Conversation {
    /// One line of what the conversation shows: handshake, response time, per end the
    /// flagged segments.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (i, r) = (self.initiator, self.responder);
        write!(f, "{}:{} -> {}:{}", i.0, i.1, r.0, r.1)?;
        if let Some(h) = self.handshake {
            write!(
                f,
                " handshake: server {} us, client {} us, irtt {} us;",
                h.server_delay_us(),
                h.client_delay_us(),
                h.initial_rtt_us
            )?;
        }
        write!(f, " response {} us", self.response_time_us(i))?;
        for (who, end) in [("client", i), ("server", r)] {
            let s = self.sent_by(end);
            write!(
                f,
                "; {who} sent {} (retransmission {}/{} octets, fast {}, spurious {}, \
                 out-of-order {}/{} octets, zero window {})",
                s.packets,
                s.retransmission,
                s.retransmission_octets,
                s.fast_retransmission,
                s.spurious_retransmission,
                s.out_of_order,
                s.out_of_order_octets,
                s.zero_window
            )?;
        }
        Ok(())
    }
}

/// Every conversation of the capture.
pub struct Oracle {
    pub conversations: Vec<Conversation>,
}

/// One frame's columns.
struct Row<'a>(Vec<&'a str>);

impl<'a> Row<'a> {
    fn get(&self, field: &str) -> &'a str {
        let at = FIELDS.iter().position(|f| *f == field).unwrap();
        self.0.get(at).copied().unwrap_or("")
    }
    fn has(&self, field: &str) -> bool {
        !self.get(field).is_empty()
    }
    fn num(&self, field: &str) -> Option<u64> {
        number(self.get(field).split('|').next()?)
    }
    fn list(&self, field: &str) -> Vec<&'a str> {
        self.get(field)
            .split('|')
            .filter(|v| !v.is_empty())
            .collect()
    }
    fn numbers(&self, field: &str) -> Vec<u16> {
        self.list(field)
            .iter()
            .map(|v| number(v).unwrap() as u16)
            .collect()
    }
}

/// A decimal or 0x-prefixed hex number as tshark prints it.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Seconds with a fraction ("0.031838000", "1796598329.436642000") in nanoseconds.
fn nanos(text: &str) -> u64 {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = format!("{frac:0<9}");
    secs.parse::<u64>().unwrap() * 1_000_000_000 + frac[..9].parse::<u64>().unwrap()
}

impl Oracle {
    pub fn read(pcap: &Path) -> Oracle {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(pcap).args([
            "-n",
            "-d",
            "tcp.port==8443,tls",
            // The status line is the response's first frame: the download's body has
            // late segments, which tshark does not reassemble.
            "-o",
            "http.desegment_body:FALSE",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=|",
            "-E",
            "quote=n",
        ]);
        for f in FIELDS {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().expect("tshark runs");
        assert!(
            out.status.success(),
            "tshark -r {}: {}",
            pcap.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut oracle = Oracle {
            conversations: Vec::new(),
        };
        for line in text.lines() {
            oracle.add(&Row(line.split('\t').collect()));
        }
        oracle
    }

    fn add(&mut self, row: &Row) {
        let (Ok(src), Ok(dst)) = (row.get("ip.src").parse(), row.get("ip.dst").parse()) else {
            return;
        };
        let proto = row.num("ip.proto").unwrap_or(0) as u8;
        let (sport, dport) = match proto {
            6 => (row.num("tcp.srcport"), row.num("tcp.dstport")),
            17 => (row.num("udp.srcport"), row.num("udp.dstport")),
            _ => return,
        };
        let (from, to): (End, End) = ((src, sport.unwrap() as u16), (dst, dport.unwrap() as u16));
        let at = match self
            .conversations
            .iter()
            .position(|c| c.proto == proto && c.is(from, to))
        {
            Some(at) => at,
            None => {
                self.conversations.push(Conversation {
                    initiator: from,
                    responder: to,
                    proto,
                    sent: HashMap::new(),
                    handshake: None,
                    first_payload: HashMap::new(),
                    request_frames: 0,
                    dns: None,
                    http: None,
                    tls: None,
                });
                self.conversations.len() - 1
            }
        };
        let c = &mut self.conversations[at];
        let time = nanos(row.get("frame.time_epoch"));
        let ip_len = row.num("ip.len").unwrap_or(0);
        let sent = c.sent.entry(from).or_default();
        sent.packets += 1;
        if proto == 6 {
            tcp_frame(c, row, from, time, ip_len);
        } else if row.has("udp.srcport") && !row.has("tcp.srcport") {
            // UDP payload: every datagram carries some.
            c.first_payload.entry(from).or_insert(time);
        }
        if row.has("dns.id") {
            dns_frame(c, row);
        }
        if row.has("http.request.method") || row.has("http.response.code") {
            http_frame(c, row);
        }
        if row.has("tls.handshake.type") {
            tls_frame(c, row);
        }
    }

    /// The conversation between `a` and `b`.
    pub fn between(&self, a: End, b: End) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.is(a, b))
    }
}

fn tcp_frame(c: &mut Conversation, row: &Row, from: End, time: u64, ip_len: u64) {
    let flags = row.num("tcp.flags").unwrap_or(0);
    let (syn, ack) = (flags & 0x02 != 0, flags & 0x10 != 0);
    if syn && !ack {
        // A SYN names the initiator, also when an earlier packet of the 5-tuple did not.
        if c.initiator != from {
            std::mem::swap(&mut c.initiator, &mut c.responder);
        }
        c.handshake = Some(Handshake {
            syn: time,
            syn_ack: 0,
            ack: 0,
            initial_rtt_us: 0,
        });
    } else if let Some(h) = c.handshake.as_mut() {
        if syn && ack && h.syn_ack == 0 {
            h.syn_ack = time;
        } else if !syn && ack && h.syn_ack != 0 && h.ack == 0 && from == c.initiator {
            h.ack = time;
            if let Some(rtt) = row.get("tcp.analysis.initial_rtt").split('|').next() {
                if !rtt.is_empty() {
                    h.initial_rtt_us = nanos(rtt) / 1000;
                }
            }
        }
    }
    let payload = row.num("tcp.len").unwrap_or(0) > 0;
    let responder = if from == c.initiator {
        c.responder
    } else {
        c.initiator
    };
    if payload {
        c.first_payload.entry(from).or_insert(time);
        if from == c.initiator && !c.first_payload.contains_key(&responder) {
            c.request_frames += 1;
        }
    }
    let sent = c.sent.get_mut(&from).unwrap();
    sent.payload_frames += u64::from(payload);
    if row.has("tcp.analysis.retransmission") {
        sent.retransmission += 1;
        sent.retransmission_octets += ip_len;
    }
    sent.fast_retransmission += u64::from(row.has("tcp.analysis.fast_retransmission"));
    sent.spurious_retransmission += u64::from(row.has("tcp.analysis.spurious_retransmission"));
    if row.has("tcp.analysis.out_of_order") {
        sent.out_of_order += 1;
        sent.out_of_order_octets += ip_len;
    }
    sent.zero_window += u64::from(row.has("tcp.analysis.zero_window"));
}

fn dns_frame(c: &mut Conversation, row: &Row) {
    let flags = row.num("dns.flags").unwrap_or(0) as u16;
    if row.get("dns.flags.response") == "1" {
        if let Some(d) = c.dns.as_mut().filter(|d| d.rcode.is_none()) {
            d.flags = flags;
            d.rcode = row.num("dns.flags.rcode").map(|v| v as u8);
            d.answers = row.num("dns.count.answers").map(|v| v as u16);
            d.time_us = row
                .get("dns.time")
                .split('|')
                .next()
                .filter(|t| !t.is_empty())
                .map(|t| nanos(t) / 1000);
        }
    } else if c.dns.is_none() {
        c.dns = Some(Dns {
            id: row.num("dns.id").unwrap_or(0) as u16,
            name: row.list("dns.qry.name").first().unwrap_or(&"").to_string(),
            qtype: row.num("dns.qry.type").unwrap_or(0) as u16,
            flags,
            rcode: None,
            answers: None,
            time_us: None,
        });
    }
}

fn http_frame(c: &mut Conversation, row: &Row) {
    let http = c.http.get_or_insert_with(Http::default);
    if row.has("http.request.method") && http.method.is_empty() {
        http.method = row.list("http.request.method")[0].to_string();
        http.uri = row
            .list("http.request.uri")
            .first()
            .unwrap_or(&"")
            .to_string();
        http.host = row.list("http.host").first().unwrap_or(&"").to_string();
    }
    if http.status.is_none() {
        http.status = row.num("http.response.code").map(|v| v as u16);
    }
}

fn tls_frame(c: &mut Conversation, row: &Row) {
    let types = row.numbers("tls.handshake.type");
    if types.contains(&1) && c.tls.is_none() {
        let extensions = row.numbers("tls.handshake.extension.type");
        // tshark names the algorithms of signature_algorithms_cert (50) as those of
        // signature_algorithms (13): with both, the field would mix the two lists.
        assert!(
            !extensions.contains(&50),
            "a ClientHello with signature_algorithms_cert"
        );
        let hello = ClientHello {
            legacy_version: row.numbers("tls.handshake.version")[0],
            ciphers: row.numbers("tls.handshake.ciphersuite"),
            extensions,
            supported_versions: row.numbers("tls.handshake.extensions.supported_version"),
            alpn: row
                .list("tls.handshake.extensions_alpn_str")
                .iter()
                .map(|s| s.to_string())
                .collect(),
            signature_algorithms: row.numbers("tls.handshake.sig_hash_alg"),
        };
        c.tls = Some(Tls {
            server_name: row
                .list("tls.handshake.extensions_server_name")
                .first()
                .map(|s| s.to_string()),
            alpn: hello.alpn.clone(),
            client_version: hello.highest_version(),
            version: None,
            ja3: row.get("tls.handshake.ja3").to_string(),
            ja4: ja4(&hello),
        });
    } else if types.contains(&2) {
        if let Some(tls) = c.tls.as_mut().filter(|t| t.version.is_none()) {
            let chosen = row.numbers("tls.handshake.extensions.supported_version");
            tls.version = chosen
                .first()
                .or(row.numbers("tls.handshake.version").first())
                .copied();
        }
    }
}
