//! Letting go of every capability a mode does not use: node mode starts as root, often with
//! more capabilities than it needs (a privileged pod holds all of them), and keeps only
//! those it uses after start (SYS_ADMIN for setns, NET_RAW for packet sockets, NET_ADMIN
//! for receive buffers past `net.core.rmem_max`, SYS_PTRACE for the process scan).
//!
//! Capabilities belong to threads: this must run while the calling thread is the only one,
//! so that every thread started later inherits the reduced sets.
#![forbid(unsafe_code)]

use std::io;

use rustix::thread::{CapabilitySet, CapabilitySets};

/// Highest capability number asked about in the bounding set (the kernel answers EINVAL
/// past its last one).
const LAST_CAP: u32 = 63;

/// What [`keep_only`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The calling thread's sets now.
    pub sets: CapabilitySets,
    /// The bounding set now.
    pub bounding: CapabilitySet,
    /// Why the bounding set still holds more than was needed (no SETPCAP to drop them).
    pub bounding_error: Option<rustix::io::Errno>,
}

/// The sets to keep out of `sets`: effective and permitted reduced to `needed`, nothing
/// inheritable. Pure.
pub fn reduced(sets: CapabilitySets, needed: CapabilitySet) -> CapabilitySets {
    CapabilitySets {
        effective: sets.effective & needed,
        permitted: sets.permitted & needed,
        inheritable: CapabilitySet::empty(),
    }
}

/// The calling thread's bounding set.
pub fn bounding() -> io::Result<CapabilitySet> {
    let mut set = CapabilitySet::empty();
    for bit in 0..=LAST_CAP {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        match rustix::thread::capability_is_in_bounding_set(cap) {
            Ok(true) => set |= cap,
            Ok(false) => {}
            Err(rustix::io::Errno::INVAL) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(set)
}

/// Removes every capability but `needed` from the calling thread's bounding set (while it
/// still holds SETPCAP, which that takes), clears the ambient set, and reduces the
/// permitted and effective sets to `needed`. Call it before any other thread exists.
/// Without SETPCAP the bounding set stays as it is (said in [`Kept::bounding_error`]);
/// the permitted set is reduced all the same.
pub fn keep_only(needed: CapabilitySet) -> io::Result<Kept> {
    let mut bounding_error = None;
    for bit in 0..=LAST_CAP {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        if needed.contains(cap) {
            continue;
        }
        match rustix::thread::capability_is_in_bounding_set(cap) {
            Ok(true) => {
                if let Err(e) = rustix::thread::remove_capability_from_bounding_set(cap) {
                    bounding_error.get_or_insert(e);
                }
            }
            Ok(false) => {}
            Err(rustix::io::Errno::INVAL) => break,
            Err(e) => return Err(e.into()),
        }
    }
    rustix::thread::clear_ambient_capability_set()?;
    let sets = reduced(rustix::thread::capabilities(None)?, needed);
    rustix::thread::set_capabilities(None, sets)?;
    Ok(Kept {
        sets: rustix::thread::capabilities(None)?,
        bounding: bounding()?,
        bounding_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_needed_stays_and_nothing_is_gained() {
        let all = CapabilitySets {
            effective: CapabilitySet::all(),
            permitted: CapabilitySet::all(),
            inheritable: CapabilitySet::NET_RAW,
        };
        let needed = CapabilitySet::NET_RAW | CapabilitySet::SYS_ADMIN;
        let r = reduced(all, needed);
        assert_eq!((r.effective, r.permitted), (needed, needed));
        assert_eq!(r.inheritable, CapabilitySet::empty());
        // Not held before: not held after.
        let few = CapabilitySets {
            effective: CapabilitySet::NET_RAW,
            permitted: CapabilitySet::NET_RAW | CapabilitySet::CHOWN,
            inheritable: CapabilitySet::empty(),
        };
        let r = reduced(few, needed);
        assert_eq!(
            (r.effective, r.permitted),
            (CapabilitySet::NET_RAW, CapabilitySet::NET_RAW)
        );
    }

    #[test]
    fn a_thread_of_its_own_drops_what_it_does_not_need() {
        // Run in a thread: the sets are the thread's, the test harness's stay whole.
        std::thread::spawn(|| {
            let before = rustix::thread::capabilities(None).unwrap();
            let needed = CapabilitySet::NET_RAW | CapabilitySet::CHOWN;
            let kept = keep_only(needed).unwrap();
            assert!(
                kept.sets.permitted.difference(needed).is_empty(),
                "{kept:?}"
            );
            assert_eq!(kept.sets.permitted, before.permitted & needed);
            // Root in the tests: the bounding set held every capability, and SETPCAP.
            if before.effective.contains(CapabilitySet::SETPCAP) {
                assert!(kept.bounding.difference(needed).is_empty(), "{kept:?}");
                assert!(kept.bounding.contains(CapabilitySet::NET_RAW));
            }
        })
        .join()
        .unwrap();
    }
}
