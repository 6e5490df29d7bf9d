//! The sidecar's securityContext for each [`SecurityProfile`].
//!
//! What the kubelet and the runtimes do with these fields (measured through containerd,
//! see the design notes): `allowPrivilegeEscalation: false` sets no_new_privs; added
//! capabilities go to the bounding, permitted and effective sets, but a non-root process
//! keeps them across exec only through a file capability on the binary (no ambient
//! capabilities in Kubernetes); `drop` removes from the runtime's default set.

use k8s_openapi::api::core::v1::{Capabilities, SeccompProfile, SecurityContext};

use crate::webhook::config::{SecurityProfile, Sidecar};

/// The one capability the sidecar uses: an AF_PACKET socket.
pub const NET_RAW: &str = "NET_RAW";

/// containerd's default capabilities (nothing dropped) other than NET_RAW. The
/// `baseline` profile drops them by name, so that the sidecar keeps NET_RAW from the
/// runtime's default set without adding it, which PSA `baseline` would refuse. CRI-O's
/// default set is a subset of these (it has no NET_RAW).
const RUNTIME_DEFAULTS_BUT_NET_RAW: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The securityContext of the sidecar under `settings.security_profile`.
pub fn context(settings: &Sidecar) -> SecurityContext {
    let names = |list: &[&str]| Some(list.iter().map(|c| c.to_string()).collect());
    let (user, capabilities) = match settings.security_profile {
        // NET_RAW reaches the non-root process through the image's file capability.
        SecurityProfile::Default => (
            settings.run_as_user,
            Capabilities {
                drop: names(&["ALL"]),
                add: names(&[NET_RAW]),
            },
        ),
        SecurityProfile::Root => (
            0,
            Capabilities {
                drop: names(&["ALL"]),
                add: names(&[NET_RAW]),
            },
        ),
        SecurityProfile::Baseline => (
            0,
            Capabilities {
                drop: names(&RUNTIME_DEFAULTS_BUT_NET_RAW),
                add: None,
            },
        ),
    };
    SecurityContext {
        run_as_user: Some(user),
        run_as_non_root: Some(user != 0),
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(capabilities),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(profile: SecurityProfile) -> SecurityContext {
        context(&Sidecar {
            security_profile: profile,
            ..Sidecar::default()
        })
    }

    #[test]
    fn every_profile_keeps_the_common_restrictions() {
        for profile in [
            SecurityProfile::Default,
            SecurityProfile::Root,
            SecurityProfile::Baseline,
        ] {
            let sc = with(profile);
            assert_eq!(sc.allow_privilege_escalation, Some(false), "{profile:?}");
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{profile:?}");
            assert_eq!(
                sc.seccomp_profile.unwrap().type_,
                "RuntimeDefault",
                "{profile:?}"
            );
            assert_eq!(sc.privileged, None, "{profile:?}");
        }
    }

    #[test]
    fn default_is_non_root_with_net_raw_added() {
        let sc = with(SecurityProfile::Default);
        assert_eq!(sc.run_as_user, Some(65532));
        assert_eq!(sc.run_as_non_root, Some(true));
        let caps = sc.capabilities.unwrap();
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]));
        assert_eq!(caps.add, Some(vec!["NET_RAW".to_string()]));
        let other_uid = Sidecar {
            run_as_user: 1000,
            ..Sidecar::default()
        };
        assert_eq!(context(&other_uid).run_as_user, Some(1000));
    }

    #[test]
    fn root_is_uid_0_with_net_raw_added() {
        let sc = with(SecurityProfile::Root);
        assert_eq!((sc.run_as_user, sc.run_as_non_root), (Some(0), Some(false)));
        assert_eq!(sc.capabilities.unwrap().add, Some(vec!["NET_RAW".into()]));
    }

    #[test]
    fn baseline_adds_nothing_and_keeps_only_net_raw_of_the_defaults() {
        let sc = with(SecurityProfile::Baseline);
        assert_eq!((sc.run_as_user, sc.run_as_non_root), (Some(0), Some(false)));
        let caps = sc.capabilities.unwrap();
        assert_eq!(caps.add, None);
        let dropped = caps.drop.unwrap();
        assert_eq!(dropped.len(), 13);
        assert!(!dropped.iter().any(|c| c == NET_RAW || c == "ALL"));
        // containerd's 14 defaults are the dropped 13 and NET_RAW.
        let containerd = [
            "CHOWN",
            "DAC_OVERRIDE",
            "FSETID",
            "FOWNER",
            "MKNOD",
            "NET_RAW",
            "SETGID",
            "SETUID",
            "SETFCAP",
            "SETPCAP",
            "NET_BIND_SERVICE",
            "SYS_CHROOT",
            "KILL",
            "AUDIT_WRITE",
        ];
        let kept: Vec<_> = containerd
            .iter()
            .filter(|c| !dropped.iter().any(|d| d == *c))
            .collect();
        assert_eq!(kept, [&NET_RAW]);
    }
}
