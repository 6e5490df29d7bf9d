//! The classic BPF program the kernel runs on every frame before the ring (or the pnet
//! socket): it keeps or drops the frame (`capture.filter`, and the export traffic left
//! out) and cuts what it keeps to the snap length. The expression is parsed in `parse`
//! and compiled for each link type in `codegen`.
//!
//! The compiler is podflow's own because `pcap_compile` is only in libpcap (a C library
//! the image would carry for this alone) and no maintained Rust crate compiles tcpdump's
//! syntax. It covers the primitives a pod's traffic needs (hosts, nets, ports, port
//! ranges, protocols, lengths, `and`, `or`, `not`), refuses the others by name, and is
//! checked against tcpdump's own compilation on the sample capture.

mod codegen;
mod parse;
mod vm;

use super::sys::BpfInsn;
use crate::capture::LinkType;
use codegen::{generate, Link};
use parse::parse;

/// `BPF_RET | BPF_K`: return the constant.
const RET_K: u16 = 0x06;

/// Why a filter expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// The program for each link type the kernel may hand podflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    ethernet: Vec<BpfInsn>,
    raw: Vec<BpfInsn>,
}

impl Program {
    /// Keeps every frame, cut to `snap` bytes.
    pub fn snap_only(snap: u32) -> Program {
        let all = vec![BpfInsn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: snap,
        }];
        Program {
            ethernet: all.clone(),
            raw: all,
        }
    }

    /// Whether the frame (`frame` captured of `wire_len` bytes) passes, run in user space
    /// as the kernel would run it: for capture files. Frames of a link type the program
    /// is not made for (Linux cooked, BSD loopback) pass.
    pub fn matches(&self, link: LinkType, frame: &[u8], wire_len: u32) -> bool {
        self.for_link(link)
            .is_none_or(|p| vm::run(p, frame, wire_len) > 0)
    }

    /// The instructions for frames of `link`, Ethernet or raw IP (live capture has no
    /// other).
    pub fn instructions(&self, link: LinkType) -> &[BpfInsn] {
        self.for_link(link).unwrap_or(&self.raw)
    }

    fn for_link(&self, link: LinkType) -> Option<&[BpfInsn]> {
        match link {
            LinkType::Ethernet => Some(&self.ethernet),
            LinkType::RawIp | LinkType::RawIpv4 | LinkType::RawIpv6 => Some(&self.raw),
            _ => None,
        }
    }
}

impl Program {
    /// The same program, but the TCP segments whose payload starts a TLS handshake
    /// record (a ClientHello, a ServerHello) are kept to `handshake_snap` bytes rather
    /// than `snap`: application identity needs the whole ClientHello, the other frames
    /// only their headers. Each `return snap` becomes a jump to a block that looks at the
    /// payload's first byte.
    pub fn keep_handshakes(mut self, snap: u32, handshake_snap: u32) -> Program {
        if handshake_snap > snap {
            for (program, link) in [
                (&mut self.ethernet, Link::Ethernet),
                (&mut self.raw, Link::RawIp),
            ] {
                let block_at = program.len();
                for (at, insn) in program.iter_mut().enumerate() {
                    if insn.code == RET_K && insn.k == snap {
                        // `ja` jumps k instructions past the next one.
                        *insn = BpfInsn {
                            code: JA,
                            jt: 0,
                            jf: 0,
                            k: (block_at - at - 1) as u32,
                        };
                    }
                }
                program.extend(handshake_block(link, snap, handshake_snap));
            }
        }
        self
    }
}

/// `BPF_JMP | BPF_JA`.
const JA: u16 = 0x05;

/// Returns `big` for a TCP segment (IPv4 not a later fragment, or IPv6 without extension
/// headers) whose payload starts with 0x16, a TLS handshake record; `snap` otherwise.
fn handshake_block(link: Link, snap: u32, big: u32) -> Vec<BpfInsn> {
    // Labels resolved below: each jump names the instruction it goes to.
    const SNAP: usize = usize::MAX;
    const BIG: usize = usize::MAX - 1;
    const V6: usize = usize::MAX - 2;
    const PAYLOAD: usize = usize::MAX - 3;
    let nh = match link {
        Link::Ethernet => 14,
        Link::RawIp => 0,
    };
    // (code, k, true target, false target); `None` targets fall through.
    type Step = (u16, u32, Option<usize>, Option<usize>);
    let mut steps: Vec<Step> = Vec::new();
    match link {
        Link::Ethernet => {
            steps.push((0x28, 12, None, None)); // ldh [12]: EtherType
            steps.push((0x15, 0x86dd, Some(V6), None));
            steps.push((0x15, 0x0800, None, Some(SNAP)));
        }
        Link::RawIp => {
            steps.push((0x30, 0, None, None)); // ldb [0]: version
            steps.push((0x74, 4, None, None));
            steps.push((0x15, 6, Some(V6), None));
            steps.push((0x15, 4, None, Some(SNAP)));
        }
    }
    // IPv4: TCP, not a later fragment; X = the IP header's length.
    steps.push((0x30, nh + 9, None, None));
    steps.push((0x15, 6, None, Some(SNAP)));
    steps.push((0x28, nh + 6, None, None));
    steps.push((0x45, 0x1fff, Some(SNAP), None));
    steps.push((0xb1, nh, None, None)); // ldxb 4*([nh]&0xf)
    steps.push((0x50, nh + 12, None, None)); // ldb [x + nh + 12]: TCP data offset
    steps.push((0x74, 4, None, None));
    steps.push((0x24, 4, None, None));
    steps.push((0x0c, 0, None, None)); // + IP header length
    steps.push((0x04, nh, None, None));
    steps.push((0x05, 0, Some(PAYLOAD), None)); // ja payload
    let v6_at = steps.len();
    steps.push((0x30, nh + 6, None, None)); // next header
    steps.push((0x15, 6, None, Some(SNAP)));
    steps.push((0x30, nh + 52, None, None)); // TCP data offset
    steps.push((0x74, 4, None, None));
    steps.push((0x24, 4, None, None));
    steps.push((0x04, nh + 40, None, None));
    let payload_at = steps.len();
    steps.push((0x07, 0, None, None)); // tax: X = where the payload starts
    steps.push((0x80, 0, None, None)); // ld len
    steps.push((0x2d, 0, None, Some(SNAP))); // a payload at all
    steps.push((0x50, 0, None, None)); // ldb [x]
    steps.push((0x15, 0x16, Some(BIG), Some(SNAP)));
    let snap_at = steps.len();
    steps.push((RET_K, snap, None, None));
    let big_at = steps.len();
    steps.push((RET_K, big, None, None));
    let resolve = |from: usize, to: Option<usize>| -> usize {
        let to = match to {
            None => return 0,
            Some(SNAP) => snap_at,
            Some(BIG) => big_at,
            Some(V6) => v6_at,
            Some(PAYLOAD) => payload_at,
            Some(other) => other,
        };
        to - from - 1
    };
    steps
        .iter()
        .enumerate()
        .map(|(at, &(code, k, jt, jf))| {
            if code == JA {
                BpfInsn {
                    code,
                    jt: 0,
                    jf: 0,
                    k: resolve(at, jt) as u32,
                }
            } else {
                BpfInsn {
                    code,
                    jt: resolve(at, jt) as u8,
                    jf: resolve(at, jf) as u8,
                    k,
                }
            }
        })
        .collect()
}

/// The program for `expr` (empty: every frame), frames kept cut to `snap` bytes.
pub fn compile(expr: &str, snap: u32) -> Result<Program, FilterError> {
    if expr.trim().is_empty() {
        return Ok(Program::snap_only(snap));
    }
    let parsed = parse(expr)?;
    Ok(Program {
        ethernet: generate(&parsed, Link::Ethernet, snap)?,
        raw: generate(&parsed, Link::RawIp, snap)?,
    })
}

#[cfg(test)]
mod tests;
