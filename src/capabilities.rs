//! The one Linux capability live capture needs, CAP_NET_RAW: raising it into the effective
//! set at start, and reading the process's capability state to say why a packet socket was
//! refused. Plus letting go of the capabilities a mode does not use ([`keep_only`]).
//!
//! Kubernetes has no ambient capabilities, so a non-root podflow gets NET_RAW only through
//! the file capability of its binary, which the image sets with the permitted bit alone
//! (with the effective bit, exec would fail wherever the bounding set lacks NET_RAW). After
//! exec the capability is permitted but not effective, and podflow raises it itself
//! ([`raise_net_raw`]). Capabilities belong to threads and new threads inherit them: the
//! raise must happen before any thread is started.
#![forbid(unsafe_code)]

mod keep;

pub use keep::{bounding, keep_only, Kept};

use std::fmt;
use std::io;

use rustix::thread::{CapabilitySet, CapabilitySets};

/// CAP_NET_RAW's bit in the capability masks of `/proc/<pid>/status` and of a file
/// capability.
const NET_RAW_BIT: u64 = 1 << 13;

/// What [`raise_net_raw`] found and did.
#[derive(Debug)]
pub enum NetRaw {
    /// Already effective (root, or a file capability with the effective bit).
    Effective,
    /// Permitted only; now raised into the effective set.
    Raised,
    /// Not permitted: capture will be refused and say why.
    NotPermitted,
    /// The capability sets could not be read or changed.
    Failed(io::Error),
}

impl fmt::Display for NetRaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetRaw::Effective => f.write_str("already effective"),
            NetRaw::Raised => f.write_str("raised from the permitted into the effective set"),
            NetRaw::NotPermitted => f.write_str("not permitted"),
            NetRaw::Failed(e) => write!(f, "cannot be raised: {e}"),
        }
    }
}

/// What to do with the calling thread's capability sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// NET_RAW is effective already: nothing to do.
    Keep,
    /// NET_RAW is not permitted: nothing can be done.
    Impossible,
    /// Set these sets: the same with NET_RAW added to the effective set.
    Set(CapabilitySets),
}

/// The decision of [`raise_net_raw`], pure: raise NET_RAW into the effective set when it is
/// permitted and not effective yet; leave every other capability as it is.
pub fn plan(sets: CapabilitySets) -> Plan {
    if sets.effective.contains(CapabilitySet::NET_RAW) {
        Plan::Keep
    } else if !sets.permitted.contains(CapabilitySet::NET_RAW) {
        Plan::Impossible
    } else {
        Plan::Set(CapabilitySets {
            effective: sets.effective | CapabilitySet::NET_RAW,
            ..sets
        })
    }
}

/// Makes CAP_NET_RAW effective for the calling thread when it is permitted (see the module
/// documentation). Call it first thing in `main`, before any thread exists.
pub fn raise_net_raw() -> NetRaw {
    let sets = match rustix::thread::capabilities(None) {
        Ok(sets) => sets,
        Err(e) => return NetRaw::Failed(e.into()),
    };
    match plan(sets) {
        Plan::Keep => NetRaw::Effective,
        Plan::Impossible => NetRaw::NotPermitted,
        Plan::Set(sets) => match rustix::thread::set_capabilities(None, sets) {
            Ok(()) => NetRaw::Raised,
            Err(e) => NetRaw::Failed(e.into()),
        },
    }
}

/// Whether the binary carries a file capability granting NET_RAW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileCap {
    /// `security.capability` grants NET_RAW in its permitted set.
    NetRaw,
    /// No file capability, or one without NET_RAW.
    Absent,
    /// The attribute could not be read.
    Unknown,
}

/// The facts about the process that decide whether it may open a packet socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapState {
    /// Effective user id.
    pub uid: u32,
    pub effective: u64,
    pub permitted: u64,
    pub bounding: u64,
    /// `no_new_privs` (set by `allowPrivilegeEscalation: false`).
    pub no_new_privs: bool,
    /// The running binary's path.
    pub exe: String,
    pub file_cap: FileCap,
}

impl CapState {
    /// The calling thread's state: `/proc/thread-self/status` and the running binary's
    /// `security.capability` attribute.
    pub fn read() -> io::Result<CapState> {
        let status = std::fs::read_to_string("/proc/thread-self/status")?;
        let exe = std::fs::read_link("/proc/self/exe")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "podflow".into());
        let mut value = [0u8; 32];
        let file_cap =
            match rustix::fs::getxattr("/proc/self/exe", "security.capability", &mut value[..]) {
                Ok(len) => file_caps_grant_net_raw(&value[..len]),
                Err(rustix::io::Errno::NODATA) => FileCap::Absent,
                Err(_) => FileCap::Unknown,
            };
        let mut state = CapState::parse(&status)
            .ok_or_else(|| io::Error::other("unexpected /proc/thread-self/status"))?;
        state.exe = exe;
        state.file_cap = file_cap;
        Ok(state)
    }

    /// The capability fields of a `/proc/<pid>/status` text; `exe` and `file_cap` are left
    /// empty and unknown.
    pub fn parse(status: &str) -> Option<CapState> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let mask = |name: &str| u64::from_str_radix(field(name)?, 16).ok();
        // Uid: real, effective, saved, filesystem.
        let uid = field("Uid")?.split_whitespace().nth(1)?.parse().ok()?;
        Some(CapState {
            uid,
            effective: mask("CapEff")?,
            permitted: mask("CapPrm")?,
            bounding: mask("CapBnd")?,
            no_new_privs: field("NoNewPrivs") == Some("1"),
            exe: String::new(),
            file_cap: FileCap::Unknown,
        })
    }
}

/// Whether a `security.capability` value (`struct vfs_cap_data`, revision 1, 2 or 3: a
/// little-endian magic word, then the permitted and inheritable masks) has NET_RAW in its
/// permitted set.
pub fn file_caps_grant_net_raw(value: &[u8]) -> FileCap {
    const REVISION_MASK: u32 = 0xff00_0000;
    let word = |at: usize| {
        value
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(magic), Some(permitted)) = (word(0), word(4)) else {
        return FileCap::Absent;
    };
    let known = matches!(
        magic & REVISION_MASK,
        0x0100_0000 | 0x0200_0000 | 0x0300_0000
    );
    if known && u64::from(permitted) & NET_RAW_BIT != 0 {
        FileCap::NetRaw
    } else {
        FileCap::Absent
    }
}

/// A packet socket refused for lack of permission, with what was known of the process
/// then. Its `Display` says what is wrong and how to fix it.
#[derive(Debug)]
pub struct Denied {
    pub error: io::Error,
    /// `None` when the state could not be read.
    pub state: Option<CapState>,
}

impl Denied {
    /// `error` (EPERM or EACCES from `socket(AF_PACKET, ...)`), explained by the calling
    /// thread's capability state.
    pub fn now(error: io::Error) -> Denied {
        Denied {
            error,
            state: CapState::read().ok(),
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.error)?;
        match &self.state {
            Some(state) => f.write_str(&explain(state)),
            None => f.write_str(
                "live capture needs the NET_RAW capability (CAP_NET_RAW), and podflow cannot read its capability state to say what is missing",
            ),
        }
    }
}

impl std::error::Error for Denied {}

/// What keeps a process in `state` from opening a packet socket, and the fix. Pure.
pub fn explain(state: &CapState) -> String {
    let has = |mask: u64| mask & NET_RAW_BIT != 0;
    if !has(state.bounding) {
        return "NET_RAW is not in this container's capability bounding set, so no process in it can have it. \
            Add it to the container: securityContext.capabilities.add: [NET_RAW] (the injected sidecar has it \
            with webhook.sidecar.security_profile \"default\" or \"root\"). With the \"baseline\" profile the \
            sidecar relies on the container runtime's default capabilities, and this runtime's defaults lack \
            NET_RAW (CRI-O's do): use \"default\" or \"root\" there, or node mode"
            .into();
    }
    if !has(state.permitted) {
        return not_permitted(state);
    }
    if !has(state.effective) {
        return "NET_RAW is permitted but not effective: podflow could not raise it at start (see the debug log); \
            run the sidecar as UID 0 (webhook.sidecar.security_profile \"root\")"
            .into();
    }
    "NET_RAW is in effect, yet the kernel refused the packet socket: something other than capabilities forbids \
        it, such as the container's seccomp profile (securityContext.seccompProfile) or a Linux security module \
        (AppArmor, SELinux); adding capabilities will not help"
        .into()
}

/// NET_RAW is in the bounding set but not permitted.
fn not_permitted(state: &CapState) -> String {
    let CapState {
        uid,
        exe,
        no_new_privs,
        ..
    } = state;
    if *uid == 0 {
        return "the container grants NET_RAW, but this process runs as UID 0 without it in its \
            permitted set: something dropped it before podflow started, or securebits keep UID 0 from \
            gaining capabilities at exec. Run podflow itself as the container's command, with NET_RAW in \
            securityContext.capabilities.add"
            .into();
    }
    let head = format!(
        "NET_RAW is granted to the container but not to this process, which runs as UID {uid}: \
         Kubernetes has no ambient capabilities, so a non-root process gets one only from a file \
         capability on its binary"
    );
    match state.file_cap {
        FileCap::NetRaw if *no_new_privs => format!(
            "{head}. {exe} carries cap_net_raw, but no_new_privs is set (allowPrivilegeEscalation: false) \
             and the process did not hold NET_RAW before exec, so the kernel did not grant it: add \
             securityContext.capabilities.add: [NET_RAW], which the runtime grants before exec, or run \
             the sidecar as UID 0 (webhook.sidecar.security_profile \"root\")"
        ),
        FileCap::NetRaw => format!(
            "{head}. {exe} carries cap_net_raw, yet the kernel did not grant it: file capabilities are \
             ignored on a filesystem mounted nosuid. Run the podflow image's own binary, or run the \
             sidecar as UID 0 (webhook.sidecar.security_profile \"root\")"
        ),
        FileCap::Absent | FileCap::Unknown => format!(
            "{head}, and {exe} carries no cap_net_raw file capability{unknown}. Use the podflow image, whose \
             binary carries it (a copied binary, or one on a filesystem without extended attributes, loses \
             it; `setcap cap_net_raw+p` restores it), or run the sidecar as UID 0 \
             (webhook.sidecar.security_profile \"root\")",
            unknown = if state.file_cap == FileCap::Unknown {
                " (its security.capability attribute cannot be read)"
            } else {
                ""
            }
        ),
    }
}

#[cfg(test)]
mod tests;
