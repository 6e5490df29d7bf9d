//! An [`Expr`] compiled to classic BPF for one link type. Pure.
//!
//! Each test is a few loads and one conditional jump to a "true" or a "false" label;
//! `and`, `or` and `not` only wire the labels (`not` swaps them). The program ends in the
//! two returns: the snap length (keep the frame, cut) and 0 (drop it). Like libpcap's,
//! the tests read IPv4 options through the header length but do not walk IPv6
//! extension headers, and a later IPv4 fragment has no ports.

use std::net::IpAddr;

use super::parse::{masked, Dir, Expr, Proto, Test};
use super::FilterError;
use crate::capture::ring::BpfInsn;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LD_W_LEN: u16 = 0x80;
const LDX_B_MSH: u16 = 0xb1;
const ALU_AND_K: u16 = 0x54;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const JA: u16 = 0x05;
/// The longest conditional jump classic BPF can encode.
const MAX_JUMP: usize = 255;
/// The longest program the kernel takes (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

const ETH_IPV4: u32 = 0x0800;
const ETH_IPV6: u32 = 0x86dd;
const ETH_ARP: u32 = 0x0806;
const ETH_RARP: u32 = 0x8035;
const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;

/// Where the frames of a link type keep the network header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet: the EtherType at 12, the network header at 14.
    Ethernet,
    /// Raw IP: the network header at 0, its version in the first nibble.
    RawIp,
}

impl Link {
    fn nh(self) -> u32 {
        match self {
            Link::Ethernet => 14,
            Link::RawIp => 0,
        }
    }
}

/// A jump target: the next instruction, a label placed later, or a fixed number of
/// instructions to skip.
#[derive(Clone, Copy, Debug)]
enum Target {
    Next,
    Label(usize),
    Skip(u8),
}

#[derive(Clone, Copy, Debug)]
struct Insn {
    code: u16,
    k: u32,
    jt: Target,
    jf: Target,
    /// For `ja`: the label jumped to (its offset goes in `k`).
    to: Option<usize>,
}

/// The last step of a test: a conditional jump on the accumulator.
#[derive(Clone, Copy)]
struct Cond {
    code: u16,
    k: u32,
    /// True when the condition holding means the test fails (a `jset` on fragment bits).
    negate: bool,
}

struct Gen {
    link: Link,
    code: Vec<Insn>,
    /// Position of each label, once placed.
    labels: Vec<Option<usize>>,
}

/// Compiles `expr` for `link`: frames that match are kept, cut to `snap` bytes.
pub fn generate(expr: &Expr, link: Link, snap: u32) -> Result<Vec<BpfInsn>, FilterError> {
    let mut g = Gen {
        link,
        code: Vec::new(),
        labels: Vec::new(),
    };
    let (yes, no) = (g.label(), g.label());
    g.expr(expr, yes, no);
    g.place(yes);
    g.emit(RET_K, snap);
    g.place(no);
    g.emit(RET_K, 0);
    g.resolve()
}

impl Gen {
    fn label(&mut self) -> usize {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn place(&mut self, label: usize) {
        self.labels[label] = Some(self.code.len());
    }

    fn emit(&mut self, code: u16, k: u32) {
        self.code.push(Insn {
            code,
            k,
            jt: Target::Next,
            jf: Target::Next,
            to: None,
        });
    }

    fn jump(&mut self, cond: Cond, yes: usize, no: usize) {
        let (t, f) = if cond.negate { (no, yes) } else { (yes, no) };
        self.code.push(Insn {
            code: cond.code,
            k: cond.k,
            jt: Target::Label(t),
            jf: Target::Label(f),
            to: None,
        });
    }

    /// Jumps to `yes` when `expr` holds, to `no` when not.
    fn expr(&mut self, expr: &Expr, yes: usize, no: usize) {
        match expr {
            Expr::And(a, b) => self.both(
                yes,
                no,
                |g, y, n| g.expr(a, y, n),
                |g, y, n| g.expr(b, y, n),
            ),
            Expr::Or(a, b) => self.either(
                yes,
                no,
                |g, y, n| g.expr(a, y, n),
                |g, y, n| g.expr(b, y, n),
            ),
            Expr::Not(a) => self.expr(a, no, yes),
            Expr::Test(t) => self.test(t, yes, no),
        }
    }

    /// `a and b` where both are built by closures.
    fn both(
        &mut self,
        yes: usize,
        no: usize,
        a: impl FnOnce(&mut Gen, usize, usize),
        b: impl FnOnce(&mut Gen, usize, usize),
    ) {
        self.pair(true, yes, no, a, b);
    }

    /// `a or b` where both are built by closures.
    fn either(
        &mut self,
        yes: usize,
        no: usize,
        a: impl FnOnce(&mut Gen, usize, usize),
        b: impl FnOnce(&mut Gen, usize, usize),
    ) {
        self.pair(false, yes, no, a, b);
    }

    /// `a and b` (`all`) or `a or b`: `a` goes on to `b` where the answer is not known yet.
    fn pair(
        &mut self,
        all: bool,
        yes: usize,
        no: usize,
        a: impl FnOnce(&mut Gen, usize, usize),
        b: impl FnOnce(&mut Gen, usize, usize),
    ) {
        let mid = self.label();
        if all {
            a(self, mid, no);
        } else {
            a(self, yes, mid);
        }
        self.place(mid);
        b(self, yes, no);
    }

    fn test(&mut self, test: &Test, yes: usize, no: usize) {
        match *test {
            Test::Proto(p) => self.proto(p, yes, no),
            Test::IpProto { v6, proto } => match v6 {
                Some(false) => self.both(
                    yes,
                    no,
                    |g, y, n| g.is_ip(false, y, n),
                    |g, y, n| g.ip_proto(false, proto, y, n),
                ),
                Some(true) => self.both(
                    yes,
                    no,
                    |g, y, n| g.is_ip(true, y, n),
                    |g, y, n| g.ip_proto(true, proto, y, n),
                ),
                None => self.either(
                    yes,
                    no,
                    |g, y, n| {
                        g.test(
                            &Test::IpProto {
                                v6: Some(false),
                                proto,
                            },
                            y,
                            n,
                        )
                    },
                    |g, y, n| {
                        g.test(
                            &Test::IpProto {
                                v6: Some(true),
                                proto,
                            },
                            y,
                            n,
                        )
                    },
                ),
            },
            Test::Net {
                proto,
                dir,
                addr,
                prefix,
            } => {
                let v6 = addr.is_ipv6();
                let wanted = match proto {
                    Some(Proto::Ip) => !v6,
                    Some(Proto::Ip6) => v6,
                    _ => true,
                };
                if !wanted {
                    // `ip6 host 10.0.0.1`: nothing matches.
                    self.never(yes, no);
                    return;
                }
                let ip = |g: &mut Gen, y, n| {
                    g.both(
                        y,
                        n,
                        |g, y, n| g.is_ip(v6, y, n),
                        |g, y, n| g.dirs(dir, y, n, |g, src, y, n| g.addr(src, addr, prefix, y, n)),
                    )
                };
                if v6 || proto.is_some() || self.link != Link::Ethernet {
                    ip(self, yes, no);
                    return;
                }
                // As in libpcap, an IPv4 host or net without `ip` also matches the
                // sender and target addresses of ARP and RARP.
                let arp = |g: &mut Gen, ethertype: u32, y, n| {
                    g.both(
                        y,
                        n,
                        |g, y, n| {
                            g.emit(LD_H_ABS, 12);
                            g.jump(
                                Cond {
                                    code: JEQ_K,
                                    k: ethertype,
                                    negate: false,
                                },
                                y,
                                n,
                            );
                        },
                        |g, y, n| {
                            g.dirs(dir, y, n, |g, src, y, n| {
                                g.arp_addr(src, addr, prefix, y, n)
                            })
                        },
                    )
                };
                self.either(yes, no, ip, |g, y, n| {
                    g.either(
                        y,
                        n,
                        |g, y, n| arp(g, ETH_ARP, y, n),
                        |g, y, n| arp(g, ETH_RARP, y, n),
                    )
                });
            }
            Test::Port { proto, dir, lo, hi } => {
                let protos: &[u8] = match proto {
                    Some(Proto::Tcp) => &[TCP],
                    Some(Proto::Udp) => &[UDP],
                    Some(Proto::Sctp) => &[SCTP],
                    _ => &[TCP, UDP, SCTP],
                };
                let v4 = proto != Some(Proto::Ip6);
                let v6 = proto != Some(Proto::Ip);
                let family = |g: &mut Gen, is_v6: bool, y: usize, n: usize| {
                    g.both(
                        y,
                        n,
                        |g, y, n| g.is_ip(is_v6, y, n),
                        |g, y, n| {
                            g.both(
                                y,
                                n,
                                |g, y, n| g.any_proto(is_v6, protos, y, n),
                                |g, y, n| {
                                    g.dirs(dir, y, n, |g, src, y, n| {
                                        g.port(is_v6, src, lo, hi, y, n)
                                    })
                                },
                            )
                        },
                    )
                };
                match (v4, v6) {
                    (true, true) => self.either(
                        yes,
                        no,
                        |g, y, n| family(g, false, y, n),
                        |g, y, n| family(g, true, y, n),
                    ),
                    (true, false) => family(self, false, yes, no),
                    (false, _) => family(self, true, yes, no),
                }
            }
            Test::Len { greater, n } => {
                self.emit(LD_W_LEN, 0);
                if greater {
                    self.jump(
                        Cond {
                            code: JGE_K,
                            k: n,
                            negate: false,
                        },
                        yes,
                        no,
                    );
                } else {
                    self.jump(
                        Cond {
                            code: JGT_K,
                            k: n,
                            negate: true,
                        },
                        yes,
                        no,
                    );
                }
            }
        }
    }

    /// Jumps to `no` whatever the frame.
    fn never(&mut self, _yes: usize, no: usize) {
        self.emit(LD_W_LEN, 0);
        self.jump(
            Cond {
                code: JGE_K,
                k: 0,
                negate: true,
            },
            no,
            no,
        );
    }

    fn proto(&mut self, p: Proto, yes: usize, no: usize) {
        match p {
            Proto::Ip => self.is_ip(false, yes, no),
            Proto::Ip6 => self.is_ip(true, yes, no),
            Proto::Arp => match self.link {
                Link::Ethernet => {
                    self.emit(LD_H_ABS, 12);
                    self.jump(
                        Cond {
                            code: JEQ_K,
                            k: ETH_ARP,
                            negate: false,
                        },
                        yes,
                        no,
                    );
                }
                Link::RawIp => self.never(yes, no),
            },
            Proto::Tcp => self.test(
                &Test::IpProto {
                    v6: None,
                    proto: TCP,
                },
                yes,
                no,
            ),
            Proto::Udp => self.test(
                &Test::IpProto {
                    v6: None,
                    proto: UDP,
                },
                yes,
                no,
            ),
            Proto::Sctp => self.test(
                &Test::IpProto {
                    v6: None,
                    proto: SCTP,
                },
                yes,
                no,
            ),
            Proto::Icmp => self.test(
                &Test::IpProto {
                    v6: Some(false),
                    proto: 1,
                },
                yes,
                no,
            ),
            Proto::Icmp6 => self.test(
                &Test::IpProto {
                    v6: Some(true),
                    proto: 58,
                },
                yes,
                no,
            ),
        }
    }

    /// The frame is IPv4 (or IPv6).
    fn is_ip(&mut self, v6: bool, yes: usize, no: usize) {
        match self.link {
            Link::Ethernet => {
                self.emit(LD_H_ABS, 12);
                let k = if v6 { ETH_IPV6 } else { ETH_IPV4 };
                self.jump(
                    Cond {
                        code: JEQ_K,
                        k,
                        negate: false,
                    },
                    yes,
                    no,
                );
            }
            Link::RawIp => {
                self.emit(LD_B_ABS, 0);
                self.emit(ALU_AND_K, 0xf0);
                let k = if v6 { 0x60 } else { 0x40 };
                self.jump(
                    Cond {
                        code: JEQ_K,
                        k,
                        negate: false,
                    },
                    yes,
                    no,
                );
            }
        }
    }

    /// The IP protocol (or IPv6 next header) is `proto`; the version is known already.
    fn ip_proto(&mut self, v6: bool, proto: u8, yes: usize, no: usize) {
        let at = self.link.nh() + if v6 { 6 } else { 9 };
        self.emit(LD_B_ABS, at);
        self.jump(
            Cond {
                code: JEQ_K,
                k: u32::from(proto),
                negate: false,
            },
            yes,
            no,
        );
    }

    fn any_proto(&mut self, v6: bool, protos: &[u8], yes: usize, no: usize) {
        let at = self.link.nh() + if v6 { 6 } else { 9 };
        self.emit(LD_B_ABS, at);
        let (last, first) = protos.split_last().expect("at least one protocol");
        for &p in first {
            let next = self.label();
            self.jump(
                Cond {
                    code: JEQ_K,
                    k: u32::from(p),
                    negate: false,
                },
                yes,
                next,
            );
            self.place(next);
        }
        self.jump(
            Cond {
                code: JEQ_K,
                k: u32::from(*last),
                negate: false,
            },
            yes,
            no,
        );
    }

    /// `test` of the source, the destination, or either or both, as `dir` says.
    fn dirs(
        &mut self,
        dir: Dir,
        yes: usize,
        no: usize,
        test: impl Fn(&mut Gen, bool, usize, usize),
    ) {
        match dir {
            Dir::Src => test(self, true, yes, no),
            Dir::Dst => test(self, false, yes, no),
            Dir::Either => self.either(
                yes,
                no,
                |g, y, n| test(g, true, y, n),
                |g, y, n| test(g, false, y, n),
            ),
            Dir::Both => self.both(
                yes,
                no,
                |g, y, n| test(g, true, y, n),
                |g, y, n| test(g, false, y, n),
            ),
        }
    }

    /// The source (or destination) address is in `addr/prefix`; the version is known.
    fn addr(&mut self, src: bool, addr: IpAddr, prefix: u8, yes: usize, no: usize) {
        let nh = self.link.nh();
        match masked(addr, prefix) {
            IpAddr::V4(a) => {
                let at = nh + if src { 12 } else { 16 };
                self.word(at, u32::from(a), prefix_mask(u32::from(prefix)), yes, no);
            }
            IpAddr::V6(a) => {
                let base = nh + if src { 8 } else { 24 };
                let value = u128::from(a);
                // Every word the prefix covers, all of them equal.
                let words: Vec<(u32, u32, u32)> = (0..4u32)
                    .filter_map(|i| {
                        let bits = u32::from(prefix).saturating_sub(i * 32).min(32);
                        (bits > 0).then(|| {
                            let word = (value >> (96 - 32 * i)) as u32;
                            (base + 4 * i, word, prefix_mask(bits))
                        })
                    })
                    .collect();
                if words.is_empty() {
                    // ::/0 matches every IPv6 packet.
                    self.emit(LD_W_LEN, 0);
                    self.jump(
                        Cond {
                            code: JGE_K,
                            k: 0,
                            negate: false,
                        },
                        yes,
                        no,
                    );
                    return;
                }
                let (last, first) = words.split_last().expect("not empty");
                for &(at, word, mask) in first {
                    let next = self.label();
                    self.word(at, word, mask, next, no);
                    self.place(next);
                }
                self.word(last.0, last.1, last.2, yes, no);
            }
        }
    }

    /// The ARP sender (or target) protocol address is in `addr/prefix` (IPv4 over
    /// Ethernet: at 28 and 38).
    fn arp_addr(&mut self, src: bool, addr: IpAddr, prefix: u8, yes: usize, no: usize) {
        if let IpAddr::V4(a) = masked(addr, prefix) {
            let at = if src { 28 } else { 38 };
            self.word(at, u32::from(a), prefix_mask(u32::from(prefix)), yes, no);
        }
    }

    /// The 32-bit word at `at`, masked, equals `value`.
    fn word(&mut self, at: u32, value: u32, mask: u32, yes: usize, no: usize) {
        self.emit(LD_W_ABS, at);
        if mask != u32::MAX {
            self.emit(ALU_AND_K, mask);
        }
        self.jump(
            Cond {
                code: JEQ_K,
                k: value,
                negate: false,
            },
            yes,
            no,
        );
    }

    /// The source (or destination) port is in `lo..=hi`; version and protocol are known.
    fn port(&mut self, v6: bool, src: bool, lo: u16, hi: u16, yes: usize, no: usize) {
        let nh = self.link.nh();
        let off = if src { 0 } else { 2 };
        if v6 {
            self.emit(LD_H_ABS, nh + 40 + off);
        } else {
            // A later fragment has no transport header.
            self.emit(LD_H_ABS, nh + 6);
            let whole = self.label();
            self.jump(
                Cond {
                    code: JSET_K,
                    k: 0x1fff,
                    negate: true,
                },
                whole,
                no,
            );
            self.place(whole);
            self.emit(LDX_B_MSH, nh);
            self.emit(LD_H_IND, nh + off);
        }
        if lo == hi {
            self.jump(
                Cond {
                    code: JEQ_K,
                    k: u32::from(lo),
                    negate: false,
                },
                yes,
                no,
            );
        } else {
            let low_ok = self.label();
            self.jump(
                Cond {
                    code: JGE_K,
                    k: u32::from(lo),
                    negate: false,
                },
                low_ok,
                no,
            );
            self.place(low_ok);
            self.jump(
                Cond {
                    code: JGT_K,
                    k: u32::from(hi),
                    negate: true,
                },
                yes,
                no,
            );
        }
    }

    /// Where `target` of the instruction at `i` lands.
    fn landing(&self, i: usize, target: Target) -> usize {
        match target {
            Target::Next => i + 1,
            Target::Skip(n) => i + 1 + usize::from(n),
            Target::Label(l) => self.labels[l].expect("every label is placed"),
        }
    }

    /// Turns labels into jump offsets. Classic BPF jumps forward only, a conditional jump
    /// at most 255 instructions: one that goes further jumps to a pair of `ja`s placed
    /// right after it, which reach anywhere.
    fn resolve(mut self) -> Result<Vec<BpfInsn>, FilterError> {
        loop {
            let far = (0..self.code.len()).find(|&i| {
                let insn = self.code[i];
                insn.to.is_none()
                    && [insn.jt, insn.jf]
                        .iter()
                        .any(|&t| self.landing(i, t) - (i + 1) > MAX_JUMP)
            });
            let Some(i) = far else { break };
            if self.code.len() + 2 > MAX_INSNS {
                return Err(FilterError(
                    "the filter is too long for a kernel program".into(),
                ));
            }
            let insn = self.code[i];
            let labels: Vec<usize> = [insn.jt, insn.jf]
                .iter()
                .map(|&t| {
                    let at = self.landing(i, t);
                    self.labels.push(Some(at));
                    self.labels.len() - 1
                })
                .collect();
            // Everything from the next instruction on moves two down.
            for l in self.labels.iter_mut().flatten() {
                if *l > i {
                    *l += 2;
                }
            }
            self.code[i].jt = Target::Next;
            self.code[i].jf = Target::Skip(1);
            for (n, &to) in labels.iter().enumerate() {
                self.code.insert(
                    i + 1 + n,
                    Insn {
                        code: JA,
                        k: 0,
                        jt: Target::Next,
                        jf: Target::Next,
                        to: Some(to),
                    },
                );
            }
        }
        if self.code.len() > MAX_INSNS {
            return Err(FilterError(
                "the filter is too long for a kernel program".into(),
            ));
        }
        let out = (0..self.code.len())
            .map(|i| {
                let insn = self.code[i];
                let offset = |t| (self.landing(i, t) - (i + 1)) as u8;
                match insn.to {
                    Some(l) => BpfInsn {
                        code: insn.code,
                        jt: 0,
                        jf: 0,
                        k: (self.landing(i, Target::Label(l)) - (i + 1)) as u32,
                    },
                    None => BpfInsn {
                        code: insn.code,
                        jt: offset(insn.jt),
                        jf: offset(insn.jf),
                        k: insn.k,
                    },
                }
            })
            .collect();
        Ok(out)
    }
}

fn prefix_mask(bits: u32) -> u32 {
    u32::MAX.checked_shl(32 - bits).unwrap_or(0)
}
