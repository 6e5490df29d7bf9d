//! The filter expression, tcpdump's syntax, parsed into an [`Expr`]. Pure.
//!
//! Primitives: `host ADDR`, `net ADDR/LEN` (or `net ADDR mask MASK`), `port N`,
//! `portrange N-M`, each optionally after `src`, `dst`, `src or dst`, `src and dst` and a
//! protocol (`ip`, `ip6`, `tcp`, `udp`, `sctp`); the protocols alone (`ip`, `ip6`, `tcp`,
//! `udp`, `sctp`, `icmp`, `icmp6`, `arp`); `ip proto N`, `ip6 proto N`, `proto N`;
//! `less N`, `greater N`. Combined with `and`/`&&`, `or`/`||`, `not`/`!` and parentheses,
//! `not` binding tighter than `and`, `and` tighter than `or`. As in tcpdump, a bare value
//! after `and` or `or` repeats the qualifiers before it (`port 80 or 443`). Host names
//! are refused (nothing is resolved).

use std::net::IpAddr;

use super::FilterError;

/// Which address or port of a packet a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Src,
    Dst,
    Either,
    Both,
}

/// A protocol qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Ip,
    Ip6,
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmp6,
    Arp,
}

/// What a primitive tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// A protocol alone.
    Proto(Proto),
    /// IP protocol / IPv6 next header, of IPv4 (`Some(false)`), IPv6 (`Some(true)`) or either.
    IpProto { v6: Option<bool>, proto: u8 },
    /// An address in a network (`host` is a full-length prefix).
    Net {
        proto: Option<Proto>,
        dir: Dir,
        addr: IpAddr,
        prefix: u8,
    },
    /// A port in a range, of TCP, UDP or SCTP (or one of them).
    Port {
        proto: Option<Proto>,
        dir: Dir,
        lo: u16,
        hi: u16,
    },
    /// Length on the wire at most (`less`) or at least (`greater`) `n`.
    Len { greater: bool, n: u32 },
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Test(Test),
}

/// Parses `text`.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        at: 0,
        last: None,
    };
    let expr = p.or()?;
    match p.peek() {
        None => Ok(expr),
        Some(t) => Err(p.error(format!("unexpected {t:?}"))),
    }
}

fn tokenize(text: &str) -> Result<Vec<String>, FilterError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
        } else if c == '!' {
            out.push("not".into());
            chars.next();
        } else if c == '&' || c == '|' {
            chars.next();
            if chars.next() != Some(c) {
                return Err(FilterError(format!("{c} must be doubled ({c}{c})")));
            }
            out.push(if c == '&' { "and" } else { "or" }.into());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || "()!&|".contains(c) {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word.to_ascii_lowercase());
        }
    }
    if out.is_empty() {
        return Err(FilterError("empty expression".into()));
    }
    Ok(out)
}

/// The qualifiers of the last primitive with a value, for a bare value after and/or.
#[derive(Clone, Copy)]
struct Qualifiers {
    proto: Option<Proto>,
    dir: Dir,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    PortRange,
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
    last: Option<Qualifiers>,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.peek() == Some(word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, what: String) -> FilterError {
        FilterError(format!("{what} (at word {} of the filter)", self.at + 1))
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.eat("or") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.not()?;
        while self.eat("and") {
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.eat("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(self.error("missing )".into()));
            }
            return Ok(inner);
        }
        self.primitive()
    }

    fn primitive(&mut self) -> Result<Expr, FilterError> {
        let Some(word) = self.peek().map(str::to_owned) else {
            return Err(self.error("the expression ends too early".into()));
        };
        // A bare value repeats the qualifiers of the primitive before it.
        if word.starts_with(|c: char| c.is_ascii_digit()) || word.contains(':') {
            let Some(q) = self.last else {
                return Err(self.error(format!("{word:?} without host, net or port before it")));
            };
            return self.value(q);
        }
        match word.as_str() {
            "less" | "greater" => {
                self.at += 1;
                let n = self.number::<u32>("a length")?;
                return Ok(Expr::Test(Test::Len {
                    greater: word == "greater",
                    n,
                }));
            }
            "proto" => {
                self.at += 1;
                let proto = self.number::<u8>("a protocol number")?;
                return Ok(Expr::Test(Test::IpProto { v6: None, proto }));
            }
            "vlan" | "mpls" | "ether" | "gateway" | "broadcast" | "multicast" => {
                return Err(self.error(format!("{word:?} is not supported")));
            }
            _ => {}
        }
        let proto = match word.as_str() {
            "ip" => Some(Proto::Ip),
            "ip6" => Some(Proto::Ip6),
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            "icmp" => Some(Proto::Icmp),
            "icmp6" => Some(Proto::Icmp6),
            "arp" => Some(Proto::Arp),
            _ => None,
        };
        if proto.is_some() {
            self.at += 1;
        }
        if matches!(proto, Some(Proto::Ip | Proto::Ip6)) && self.eat("proto") {
            let n = self.number::<u8>("a protocol number")?;
            return Ok(Expr::Test(Test::IpProto {
                v6: Some(proto == Some(Proto::Ip6)),
                proto: n,
            }));
        }
        let dir = self.dir();
        let kind = match self.peek() {
            Some("host") => Some(Kind::Host),
            Some("net") => Some(Kind::Net),
            Some("port") => Some(Kind::Port),
            Some("portrange") => Some(Kind::PortRange),
            _ => None,
        };
        let Some(kind) = kind else {
            return match (proto, dir) {
                (Some(p), None) => Ok(Expr::Test(Test::Proto(p))),
                _ => Err(self.error(format!(
                    "expected host, net, port or portrange, found {:?}",
                    self.peek().unwrap_or("the end")
                ))),
            };
        };
        self.at += 1;
        let q = Qualifiers {
            proto,
            dir: dir.unwrap_or(Dir::Either),
            kind,
        };
        if matches!(kind, Kind::Port | Kind::PortRange)
            && matches!(proto, Some(Proto::Icmp | Proto::Icmp6 | Proto::Arp))
        {
            return Err(self.error("ports need tcp, udp, sctp, ip or ip6".into()));
        }
        if matches!(kind, Kind::Host | Kind::Net)
            && matches!(
                proto,
                Some(
                    Proto::Tcp | Proto::Udp | Proto::Sctp | Proto::Icmp | Proto::Icmp6 | Proto::Arp
                )
            )
        {
            return Err(self.error("host and net take ip or ip6 as a qualifier".into()));
        }
        self.last = Some(q);
        self.value(q)
    }

    fn dir(&mut self) -> Option<Dir> {
        let first = match self.peek() {
            Some("src") => Dir::Src,
            Some("dst") => Dir::Dst,
            _ => return None,
        };
        self.at += 1;
        // "src or dst" and "src and dst" are qualifiers when a primitive kind follows.
        if let (Some(op @ ("or" | "and")), Some("src" | "dst")) = (
            self.tokens.get(self.at).map(String::as_str),
            self.tokens.get(self.at + 1).map(String::as_str),
        ) {
            let both = op == "and";
            self.at += 2;
            return Some(if both { Dir::Both } else { Dir::Either });
        }
        Some(first)
    }

    fn value(&mut self, q: Qualifiers) -> Result<Expr, FilterError> {
        let word = self
            .next()
            .ok_or_else(|| self.error("a value is missing".into()))?;
        let test = match q.kind {
            Kind::Host => {
                let addr = self.addr(&word)?;
                Test::Net {
                    proto: q.proto,
                    dir: q.dir,
                    addr,
                    prefix: full_prefix(addr),
                }
            }
            Kind::Net => {
                let (addr, prefix) = match word.split_once('/') {
                    Some((a, len)) => (
                        self.addr(a)?,
                        len.parse::<u8>()
                            .map_err(|_| self.error(format!("bad prefix length {len:?}")))?,
                    ),
                    None if self.eat("mask") => {
                        let addr = self.addr(&word)?;
                        let mask = self.next().unwrap_or_default();
                        let mask: IpAddr = mask
                            .parse()
                            .map_err(|_| self.error(format!("bad mask {mask:?}")))?;
                        (
                            addr,
                            mask_prefix(mask)
                                .ok_or_else(|| self.error("the mask is not a prefix".into()))?,
                        )
                    }
                    None => {
                        let addr = self.addr(&word)?;
                        (addr, full_prefix(addr))
                    }
                };
                if prefix > full_prefix(addr) {
                    return Err(self.error(format!("prefix /{prefix} is too long")));
                }
                if masked(addr, prefix) != addr {
                    return Err(self.error(format!("{word} has bits set past its prefix")));
                }
                Test::Net {
                    proto: q.proto,
                    dir: q.dir,
                    addr,
                    prefix,
                }
            }
            Kind::Port => {
                let port = word.parse::<u16>().map_err(|_| {
                    self.error(format!("bad port {word:?} (port names are not looked up)"))
                })?;
                Test::Port {
                    proto: q.proto,
                    dir: q.dir,
                    lo: port,
                    hi: port,
                }
            }
            Kind::PortRange => {
                let (lo, hi) = word
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?)))
                    .ok_or_else(|| self.error(format!("bad port range {word:?}")))?;
                Test::Port {
                    proto: q.proto,
                    dir: q.dir,
                    lo: lo.min(hi),
                    hi: lo.max(hi),
                }
            }
        };
        Ok(Expr::Test(test))
    }

    fn addr(&self, word: &str) -> Result<IpAddr, FilterError> {
        word.parse().map_err(|_| {
            self.error(format!(
                "{word:?} is not an IP address (host names are not looked up)"
            ))
        })
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, FilterError> {
        let word = self.next().unwrap_or_default();
        word.parse()
            .map_err(|_| self.error(format!("expected {what}, found {word:?}")))
    }
}

fn full_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// `addr` with the bits past `prefix` cleared.
pub fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

/// The prefix length of a contiguous mask.
fn mask_prefix(mask: IpAddr) -> Option<u8> {
    let (bits, ones) = match mask {
        IpAddr::V4(m) => (u128::from(u32::from(m)) << 96, u32::from(m).count_ones()),
        IpAddr::V6(m) => (u128::from(m), u128::from(m).count_ones()),
    };
    (bits.leading_ones() == ones).then_some(ones as u8)
}

#[cfg(test)]
mod tests;
