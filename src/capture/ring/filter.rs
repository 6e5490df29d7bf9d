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
