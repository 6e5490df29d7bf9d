//! Runs a program in user space, as the kernel would: for capture files (which no kernel
//! filters) and to test the compiler. Only the instructions the compiler emits are known;
//! any other, or a load past the end of the frame, drops the frame, as in the kernel.
//! Pure.

use super::super::sys::BpfInsn;

/// What `program` returns for a frame whose captured bytes are `frame` and whose length
/// on the wire is `wire_len`: 0 to drop it, else how many bytes to keep.
pub fn run(program: &[BpfInsn], frame: &[u8], wire_len: u32) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut pc = 0usize;
    let load = |at: u32, size: usize| -> Option<u32> {
        let b = frame.get(at as usize..)?.get(..size)?;
        Some(b.iter().fold(0u32, |v, &byte| v << 8 | u32::from(byte)))
    };
    while let Some(i) = program.get(pc) {
        pc += 1;
        let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match i.code {
            0x06 => return i.k,
            0x20 => match load(i.k, 4) {
                Some(v) => a = v,
                None => return 0,
            },
            0x28 => match load(i.k, 2) {
                Some(v) => a = v,
                None => return 0,
            },
            0x30 => match load(i.k, 1) {
                Some(v) => a = v,
                None => return 0,
            },
            0x48 => match load(x.wrapping_add(i.k), 2) {
                Some(v) => a = v,
                None => return 0,
            },
            0x80 => a = wire_len,
            0xb1 => match load(i.k, 1) {
                Some(v) => x = (v & 0x0f) * 4,
                None => return 0,
            },
            0x50 => match load(x.wrapping_add(i.k), 1) {
                Some(v) => a = v,
                None => return 0,
            },
            0x54 => a &= i.k,
            0x74 => a = a.checked_shr(i.k).unwrap_or(0),
            0x24 => a = a.wrapping_mul(i.k),
            0x04 => a = a.wrapping_add(i.k),
            0x0c => a = a.wrapping_add(x),
            0x07 => x = a,
            0x2d => pc += jump(a > x),
            0x05 => pc += i.k as usize,
            0x15 => pc += jump(a == i.k),
            0x25 => pc += jump(a > i.k),
            0x35 => pc += jump(a >= i.k),
            0x45 => pc += jump(a & i.k != 0),
            _ => return 0,
        }
    }
    0
}
