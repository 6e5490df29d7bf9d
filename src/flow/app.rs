//! Application identity of one flow, read from its first payload packets: the DNS
//! question and answer, the HTTP/1.x request and status, the TLS ClientHello and the
//! version the server chose. Pure: the parsers of [`crate::l7`] on payloads the capture
//! kept, state that lives as long as the flow.

use super::key::{Nanos, Packet, PROTO_TCP, PROTO_UDP};
use crate::l7::tls::{self, Gather, Hello, Transport};
use crate::l7::{dns, http, Bounded};

/// The DNS port: UDP flows to or from it are read as DNS.
pub const DNS_PORT: u16 = 53;

/// What a flow's payload said, once it said something.
#[derive(Clone, Debug, PartialEq)]
pub enum App {
    Dns(Dns),
    Http(Http),
    Tls(Tls),
}

/// The first question of a DNS flow and the first answer to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Dns {
    pub id: u16,
    pub name: Bounded<255>,
    pub qtype: u16,
    pub query_at: Nanos,
    /// Flags, response code and answer count of the response, when one came.
    pub response: Option<DnsResponse>,
    /// The query's flags (what is exported when no response came).
    pub query_flags: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsResponse {
    pub flags: u16,
    pub rcode: u8,
    pub answers: u16,
    pub at: Nanos,
}

impl Dns {
    /// Query to response, microseconds; 0 when no response came.
    pub fn response_time(&self) -> u32 {
        self.response.map_or(0, |r| {
            u32::try_from(r.at.saturating_sub(self.query_at) / 1000).unwrap_or(u32::MAX)
        })
    }
}

/// The request line and Host of an HTTP/1.x flow's first request, and its status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Http {
    pub method: Bounded<16>,
    pub host: Bounded<255>,
    pub path: Bounded<256>,
    /// 0 until the response's status line is seen.
    pub status: u16,
}

/// What the ClientHello and the ServerHello of a TLS flow said.
#[derive(Clone, Debug, Default)]
pub struct Tls {
    pub hello: Option<tls::ClientHello>,
    /// The negotiated version, 0 until the ServerHello is seen.
    pub version: u16,
    /// The client's bytes while its ClientHello spans several segments.
    gather: Option<Box<Gather>>,
}

/// Two flows' TLS states are equal when they say the same; bytes still being gathered
/// are not what a flow says.
impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        self.hello == other.hello && self.version == other.version
    }
}

/// Whether a payload that does not start anything may still matter to the flow it
/// belongs to: its ClientHello is not whole yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wants {
    Nothing,
    /// The initiator's next segments, to finish its ClientHello.
    MoreFromClient,
}

/// A payload whose first bytes may start something podflow reads (DNS, an HTTP request
/// or response, a TLS handshake record): the packets worth handing to the flow's
/// application state. Cheap: the other packets never pay more than this test.
#[inline]
pub fn is_candidate(pkt: &Packet, payload: &[u8]) -> bool {
    match pkt.key.proto {
        PROTO_UDP => {
            (pkt.key.src_port == DNS_PORT || pkt.key.dst_port == DNS_PORT) && !payload.is_empty()
        }
        PROTO_TCP => {
            starts_tls(payload)
                || http::is_request_start(payload)
                || http::is_response_start(payload)
        }
        _ => false,
    }
}

/// A TLS handshake record starts here, or may (a segment of fewer bytes than the record
/// header that begins like one).
#[inline]
fn starts_tls(payload: &[u8]) -> bool {
    match payload {
        [0x16] | [0x16, 0x03] => true,
        _ => tls::is_handshake_start(payload),
    }
}

/// Cuts `bytes` to `N` (at a UTF-8 boundary when the bytes are UTF-8) into a [`Bounded`].
fn bounded<const N: usize>(bytes: &[u8]) -> Bounded<N> {
    let mut b = Bounded::new();
    let mut end = bytes.len().min(N);
    if let Err(e) = std::str::from_utf8(&bytes[..end]) {
        if e.error_len().is_none() {
            end = e.valid_up_to();
        }
    }
    b.set(&bytes[..end]);
    b
}

impl App {
    /// Starts the application state of a flow from a payload of its initiator (`forward`)
    /// or responder; `None` when the payload starts nothing podflow reads.
    pub fn start(pkt: &Packet, forward: bool, payload: &[u8], now: Nanos) -> Option<(App, Wants)> {
        match pkt.key.proto {
            PROTO_UDP => {
                let msg = dns::parse(payload)?;
                // A query from the initiator; a capture that starts with the answer has no
                // question to time.
                if !forward || msg.response {
                    return None;
                }
                let app = App::Dns(Dns {
                    id: msg.id,
                    name: msg.name,
                    qtype: msg.qtype,
                    query_at: now,
                    response: None,
                    query_flags: msg.flags,
                });
                Some((app, Wants::Nothing))
            }
            PROTO_TCP if forward => {
                if starts_tls(payload) {
                    let mut state = Tls::default();
                    let wants = match tls::client_hello(payload, Transport::Tcp) {
                        Hello::Done(hello) => {
                            state.hello = Some(hello);
                            Wants::Nothing
                        }
                        Hello::Incomplete { .. } => {
                            state.gather = Some(Box::new(Gather::new(pkt.tcp.seq, payload)));
                            Wants::MoreFromClient
                        }
                        Hello::NotTls => return None,
                    };
                    return Some((App::Tls(state), wants));
                }
                let req = http::parse_request(payload)?;
                let app = App::Http(Http {
                    method: bounded(req.method),
                    host: bounded(req.host.unwrap_or_default()),
                    path: bounded(req.target),
                    status: 0,
                });
                Some((app, Wants::Nothing))
            }
            _ => None,
        }
    }

    /// Reads a later payload of the flow into its state.
    pub fn add(&mut self, pkt: &Packet, forward: bool, payload: &[u8], now: Nanos) -> Wants {
        match self {
            App::Dns(d) => {
                if !forward && d.response.is_none() {
                    if let Some(msg) = dns::parse(payload) {
                        if msg.response && msg.id == d.id {
                            d.response = Some(DnsResponse {
                                flags: msg.flags,
                                rcode: msg.rcode,
                                answers: msg.answers,
                                at: now,
                            });
                        }
                    }
                }
                Wants::Nothing
            }
            App::Http(h) => {
                if !forward && h.status == 0 {
                    h.status = http::parse_status(payload).unwrap_or(0);
                }
                Wants::Nothing
            }
            App::Tls(t) => {
                if !forward {
                    if t.version == 0 {
                        if let Hello::Done(server) = tls::server_hello(payload) {
                            t.version = server.version;
                        }
                    }
                    return Wants::Nothing;
                }
                let Some(gather) = t.gather.as_mut() else {
                    return Wants::Nothing;
                };
                gather.push(pkt.tcp.seq, payload);
                if !gather.usable() {
                    t.gather = None;
                    return Wants::Nothing;
                }
                match tls::client_hello(gather.bytes(), Transport::Tcp) {
                    Hello::Done(hello) => {
                        t.hello = Some(hello);
                        t.gather = None;
                        Wants::Nothing
                    }
                    Hello::Incomplete { .. } => Wants::MoreFromClient,
                    Hello::NotTls => {
                        t.gather = None;
                        Wants::Nothing
                    }
                }
            }
        }
    }
}
