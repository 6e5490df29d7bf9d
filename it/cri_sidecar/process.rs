//! The sidecar's process as the kernel sees it (`/proc/<pid>`), and the table row each
//! case prints about it.

use std::time::Duration;

/// CAP_NET_RAW in a capability mask.
pub const NET_RAW: u64 = 1 << 13;

/// Identity and capability sets of a process, from `/proc/<pid>/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStatus {
    /// The effective UID.
    pub uid: u32,
    pub effective: u64,
    pub permitted: u64,
    pub bounding: u64,
    pub inheritable: u64,
    pub ambient: u64,
    pub no_new_privs: bool,
}

impl ProcStatus {
    pub fn read(pid: u32) -> ProcStatus {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
                .trim()
        };
        let mask = |key: &str| u64::from_str_radix(field(key), 16).unwrap();
        ProcStatus {
            uid: field("Uid")
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap(),
            effective: mask("CapEff"),
            permitted: mask("CapPrm"),
            bounding: mask("CapBnd"),
            inheritable: mask("CapInh"),
            ambient: mask("CapAmb"),
            no_new_privs: field("NoNewPrivs") == "1",
        }
    }
}

/// The value of `name` in the environment of process `pid` (`/proc/<pid>/environ`).
pub fn environ(pid: u32, name: &str) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    bytes.split(|&b| b == 0).find_map(|var| {
        let var = String::from_utf8_lossy(var);
        let (key, value) = var.split_once('=')?;
        (key == name).then(|| value.to_string())
    })
}

/// What a case found out about one sidecar, printed as a row of one table.
pub struct Row {
    pub case: String,
    pub status: ProcStatus,
    /// Whether its packet socket opened (capture runs).
    pub captures: bool,
    /// From the sidecar's start to the application's.
    pub held_back: Duration,
    /// From RunPodSandbox to the application's first answer.
    pub answered: Duration,
    /// From RunPodSandbox to the collector's first data record, and to the first record
    /// of the application's traffic.
    pub first_record: Option<(Duration, Duration)>,
    /// Records of the test's traffic, and their packets, equal to the wire's.
    pub matched: Option<(usize, u64)>,
}

pub fn print_header() {
    println!(
        "| case | UID | CapEff | CapPrm | CapBnd | NoNewPrivs | packet socket opens | app held back | app answers | first record | first app record | records matched | packets matched |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

impl Row {
    pub fn print(&self) {
        let s = &self.status;
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        let (first, first_app) = self
            .first_record
            .map_or(("-".into(), "-".into()), |(a, b)| (secs(a), secs(b)));
        let (records, packets) = self.matched.map_or(("-".into(), "-".into()), |(r, p)| {
            (r.to_string(), p.to_string())
        });
        println!(
            "| {} | {} | {:#x} | {:#x} | {:#x} | {} | {} | {} | {} | {first} | {first_app} | {records} | {packets} |",
            self.case,
            s.uid,
            s.effective,
            s.permitted,
            s.bounding,
            u8::from(s.no_new_privs),
            if self.captures { "yes" } else { "no" },
            secs(self.held_back),
            secs(self.answered),
        );
    }
}
