use super::*;

const NET_RAW: CapabilitySet = CapabilitySet::NET_RAW;

fn sets(effective: CapabilitySet, permitted: CapabilitySet) -> CapabilitySets {
    CapabilitySets {
        effective,
        permitted,
        inheritable: CapabilitySet::empty(),
    }
}

#[test]
fn net_raw_is_raised_only_when_permitted_and_not_effective() {
    let chown = CapabilitySet::CHOWN;
    assert_eq!(
        plan(sets(chown, chown | NET_RAW)),
        Plan::Set(sets(chown | NET_RAW, chown | NET_RAW))
    );
    assert_eq!(plan(sets(NET_RAW, NET_RAW)), Plan::Keep);
    assert_eq!(plan(sets(chown, chown)), Plan::Impossible);
    assert_eq!(
        plan(sets(CapabilitySet::empty(), CapabilitySet::empty())),
        Plan::Impossible
    );
    // The inheritable set is carried over untouched.
    let mut with_inheritable = sets(CapabilitySet::empty(), NET_RAW);
    with_inheritable.inheritable = chown;
    let Plan::Set(raised) = plan(with_inheritable) else {
        panic!("NET_RAW is permitted");
    };
    assert_eq!(raised.inheritable, chown);
    assert_eq!(raised.permitted, NET_RAW);
}

/// `/proc/<pid>/status` of a UID 65532 process started through a binary with
/// `cap_net_raw=p` (as read on this machine), trimmed to the fields around the ones parsed.
const STATUS: &str =
    "Name:\tpodflow\nUmask:\t0022\nState:\tR (running)\nUid:\t65532\t65532\t65532\t65532\n\
Gid:\t65532\t65532\t65532\t65532\nCapInh:\t0000000000000000\nCapPrm:\t0000000000002000\n\
CapEff:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n\
Seccomp:\t0\n";

#[test]
fn status_fields_are_parsed() {
    let s = CapState::parse(STATUS).unwrap();
    assert_eq!(s.uid, 65532);
    assert_eq!(s.permitted, 0x2000);
    assert_eq!(s.effective, 0);
    assert_eq!(s.bounding, 0x1fffeffffff);
    assert!(s.no_new_privs);
    assert_eq!(s.file_cap, FileCap::Unknown);
    // Real and effective UIDs differ: the effective one decides.
    let setuid = STATUS.replace("Uid:\t65532\t65532", "Uid:\t1000\t0");
    assert_eq!(CapState::parse(&setuid).unwrap().uid, 0);
    let old_kernel = STATUS.replace("NoNewPrivs:\t1\n", "");
    assert!(!CapState::parse(&old_kernel).unwrap().no_new_privs);
    assert_eq!(CapState::parse("Name:\tx\n"), None);
    assert_eq!(
        CapState::parse(&STATUS.replace("CapBnd:\t000001", "CapBnd:\tzz")),
        None
    );
}

#[test]
fn this_process_reads_its_own_state() {
    let state = CapState::read().unwrap();
    let sets = rustix::thread::capabilities(None).unwrap();
    assert_eq!(state.effective, sets.effective.bits());
    assert_eq!(state.permitted, sets.permitted.bits());
    let me = std::env::current_exe().unwrap();
    assert_eq!(state.exe, me.display().to_string());
    // The test binary carries no file capability.
    assert_eq!(state.file_cap, FileCap::Absent);
}

/// `security.capability` values as `setcap` writes them (revision 2 unless said).
fn vfs_cap(magic: u32, permitted: u32) -> Vec<u8> {
    let mut v = magic.to_le_bytes().to_vec();
    for word in [permitted, 0, 0, 0] {
        v.extend_from_slice(&word.to_le_bytes());
    }
    v
}

#[test]
fn file_capability_values() {
    // cap_net_raw+p, cap_net_raw+ep (the effective flag is bit 0 of the magic word).
    assert_eq!(
        file_caps_grant_net_raw(&vfs_cap(0x0200_0000, 0x2000)),
        FileCap::NetRaw
    );
    assert_eq!(
        file_caps_grant_net_raw(&vfs_cap(0x0200_0001, 0x2000)),
        FileCap::NetRaw
    );
    // Revision 3 adds the root UID of the user namespace after the masks.
    let mut v3 = vfs_cap(0x0300_0000, 0x2000);
    v3.extend_from_slice(&1000u32.to_le_bytes());
    assert_eq!(file_caps_grant_net_raw(&v3), FileCap::NetRaw);
    // cap_net_admin+p only; an unknown revision; too short to hold the masks.
    assert_eq!(
        file_caps_grant_net_raw(&vfs_cap(0x0200_0000, 0x1000)),
        FileCap::Absent
    );
    assert_eq!(
        file_caps_grant_net_raw(&vfs_cap(0x0700_0000, 0x2000)),
        FileCap::Absent
    );
    assert_eq!(
        file_caps_grant_net_raw(&[0, 0, 0, 2, 0, 0x20]),
        FileCap::Absent
    );
}

fn state(uid: u32, bounding: u64, permitted: u64, effective: u64) -> CapState {
    CapState {
        uid,
        effective,
        permitted,
        bounding,
        no_new_privs: true,
        exe: "/usr/local/bin/podflow".into(),
        file_cap: FileCap::Absent,
    }
}

const ALL: u64 = 0x1fffeffffff;
const WITHOUT_NET_RAW: u64 = ALL & !0x2000;

#[test]
fn a_bounding_set_without_net_raw_asks_to_add_it() {
    for uid in [0, 65532] {
        let msg = explain(&state(uid, WITHOUT_NET_RAW, 0, 0));
        assert!(
            msg.starts_with("NET_RAW is not in this container's capability bounding set"),
            "{msg}"
        );
        assert!(msg.contains("capabilities.add: [NET_RAW]"), "{msg}");
        assert!(msg.contains("\"baseline\""), "{msg}");
        assert!(msg.contains("CRI-O"), "{msg}");
        assert!(!msg.contains("UID"), "{msg}");
    }
}

#[test]
fn non_root_without_the_file_capability_is_told_about_the_image_and_root() {
    let msg = explain(&state(65532, 0x2000, 0, 0));
    assert!(
        msg.contains("granted to the container but not to this process"),
        "{msg}"
    );
    assert!(msg.contains("UID 65532"), "{msg}");
    assert!(
        msg.contains("/usr/local/bin/podflow carries no cap_net_raw file capability"),
        "{msg}"
    );
    assert!(msg.contains("security_profile \"root\""), "{msg}");
    // It is there already: never ask to add it.
    assert!(!msg.contains("add: [NET_RAW]"), "{msg}");
    assert!(!msg.contains("cannot be read"), "{msg}");

    let unknown = CapState {
        file_cap: FileCap::Unknown,
        ..state(1000, ALL, 0, 0)
    };
    let msg = explain(&unknown);
    assert!(msg.contains("UID 1000"), "{msg}");
    assert!(
        msg.contains("security.capability attribute cannot be read"),
        "{msg}"
    );
}

#[test]
fn a_file_capability_that_did_not_take_names_why() {
    let with_cap = CapState {
        file_cap: FileCap::NetRaw,
        ..state(65532, ALL, 0, 0)
    };
    let msg = explain(&with_cap);
    assert!(
        msg.contains("carries cap_net_raw, but no_new_privs is set"),
        "{msg}"
    );
    let msg = explain(&CapState {
        no_new_privs: false,
        ..with_cap
    });
    assert!(msg.contains("nosuid"), "{msg}");
    assert!(!msg.contains("no_new_privs"), "{msg}");
}

#[test]
fn root_without_net_raw_permitted() {
    let msg = explain(&state(0, ALL, ALL & !0x2000, 0));
    assert!(msg.contains("runs as UID 0 without it"), "{msg}");
    assert!(!msg.contains("file capability"), "{msg}");
}

#[test]
fn permitted_but_not_effective_says_the_raise_failed() {
    let msg = explain(&state(65532, ALL, 0x2000, 0));
    assert!(
        msg.starts_with("NET_RAW is permitted but not effective"),
        "{msg}"
    );
}

#[test]
fn effective_and_still_refused_points_elsewhere() {
    for uid in [0, 65532] {
        let msg = explain(&state(uid, 0x2000, 0x2000, 0x2000));
        assert!(msg.contains("something other than capabilities"), "{msg}");
        assert!(msg.contains("seccomp"), "{msg}");
        assert!(!msg.contains("add: [NET_RAW]"), "{msg}");
    }
}

#[test]
fn denied_shows_the_error_then_the_explanation() {
    let eperm = || io::Error::from_raw_os_error(libc::EPERM);
    let denied = Denied {
        error: eperm(),
        state: Some(state(65532, WITHOUT_NET_RAW, 0, 0)),
    };
    let text = denied.to_string();
    assert!(
        text.starts_with("Operation not permitted (os error 1): NET_RAW is not in"),
        "{text}"
    );
    let blind = Denied {
        error: eperm(),
        state: None,
    };
    assert!(blind.to_string().contains("needs the NET_RAW capability"));
}
