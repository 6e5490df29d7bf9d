//! Each primitive of a filter as instructions: protocols, addresses (IP and ARP), ports,
//! with the checks of the link and network layers each needs.

use super::*;

impl Gen {
    pub(super) fn test(&mut self, test: &Test, yes: usize, no: usize) {
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
    pub(super) fn never(&mut self, _yes: usize, no: usize) {
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

    pub(super) fn proto(&mut self, p: Proto, yes: usize, no: usize) {
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
    pub(super) fn is_ip(&mut self, v6: bool, yes: usize, no: usize) {
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
    pub(super) fn ip_proto(&mut self, v6: bool, proto: u8, yes: usize, no: usize) {
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

    pub(super) fn any_proto(&mut self, v6: bool, protos: &[u8], yes: usize, no: usize) {
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
    pub(super) fn dirs(
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
    pub(super) fn addr(&mut self, src: bool, addr: IpAddr, prefix: u8, yes: usize, no: usize) {
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
    pub(super) fn arp_addr(&mut self, src: bool, addr: IpAddr, prefix: u8, yes: usize, no: usize) {
        if let IpAddr::V4(a) = masked(addr, prefix) {
            let at = if src { 28 } else { 38 };
            self.word(at, u32::from(a), prefix_mask(u32::from(prefix)), yes, no);
        }
    }

    /// The 32-bit word at `at`, masked, equals `value`.
    pub(super) fn word(&mut self, at: u32, value: u32, mask: u32, yes: usize, no: usize) {
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
    pub(super) fn port(&mut self, v6: bool, src: bool, lo: u16, hi: u16, yes: usize, no: usize) {
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
}
