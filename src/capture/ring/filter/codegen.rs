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
mod primitives;

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
