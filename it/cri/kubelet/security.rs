//! A container's securityContext as the kubelet hands it to the runtime: the pod-level
//! fields merged under the container's, the runAsNonRoot check the kubelet makes itself,
//! capabilities, `allowPrivilegeEscalation: false` as `no_new_privs`, seccomp and AppArmor
//! profiles, the masked and read-only /proc paths, and the namespaces of the pod.

use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};
use podflow::node::cri::{
    security_profile::ProfileType, Capability, Int64Value, LinuxContainerSecurityContext,
    NamespaceMode, NamespaceOption, SecurityProfile, UserNamespace,
};

use super::TranslateError;

/// The user an image runs as when the pod does not say (the image's `USER`, from the
/// runtime's ImageStatus).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageUser {
    pub uid: Option<i64>,
    pub username: String,
}

/// The pod's securityContext fields that apply to containers, overridden by the
/// container's own where it sets them.
pub fn effective(pod: &Pod, container: &Container) -> SecurityContext {
    let pod_sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let mut sc = SecurityContext::default();
    if let Some(p) = pod_sc {
        sc.se_linux_options = p.se_linux_options.clone();
        sc.run_as_user = p.run_as_user;
        sc.run_as_group = p.run_as_group;
        sc.run_as_non_root = p.run_as_non_root;
    }
    let Some(c) = container.security_context.as_ref() else {
        return sc;
    };
    macro_rules! over {
        ($($field:ident),*) => {$(
            if c.$field.is_some() {
                sc.$field = c.$field.clone();
            }
        )*};
    }
    over!(
        se_linux_options,
        capabilities,
        privileged,
        run_as_user,
        run_as_group,
        run_as_non_root,
        read_only_root_filesystem,
        allow_privilege_escalation,
        proc_mount,
        seccomp_profile,
        app_armor_profile
    );
    sc
}

/// The kubelet refuses to start a container with runAsNonRoot that would run as UID 0.
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    image: &ImageUser,
) -> Result<(), TranslateError> {
    let sc = effective(pod, container);
    if sc.run_as_non_root != Some(true) {
        return Ok(());
    }
    let refuse = |why: &str| {
        Err(TranslateError::NonRoot {
            container: container.name.clone(),
            why: why.to_string(),
        })
    };
    match (sc.run_as_user, image.uid) {
        (Some(0), _) => refuse("container's runAsUser breaks non-root policy"),
        (Some(_), _) => Ok(()),
        (None, None) if !image.username.is_empty() => refuse(&format!(
            "image has non-numeric user ({}), cannot verify user is non-root",
            image.username
        )),
        (None, Some(0)) => refuse("container has runAsNonRoot and image will run as root"),
        (None, Some(uid)) if uid > i64::from(i32::MAX) => {
            refuse(&format!("image has an invalid user id ({uid})"))
        }
        (None, _) => Ok(()),
    }
}

/// The paths the kubelet asks the runtime to mask and to make read-only under /proc and
/// /sys with the default procMount.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn profile(kind: ProfileType, localhost_ref: &str) -> SecurityProfile {
    SecurityProfile {
        profile_type: kind as i32,
        localhost_ref: localhost_ref.to_string(),
    }
}

/// Seccomp: the container's profile, else the pod's, else Unconfined (the kubelet's
/// default without `--seccomp-default`).
fn seccomp(sc: &SecurityContext, pod: &Pod) -> SecurityProfile {
    let pod_profile = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.seccomp_profile.as_ref());
    match sc.seccomp_profile.as_ref().or(pod_profile) {
        Some(p) if p.type_ == "RuntimeDefault" => profile(ProfileType::RuntimeDefault, ""),
        Some(p) if p.type_ == "Localhost" => profile(
            ProfileType::Localhost,
            p.localhost_profile.as_deref().unwrap_or(""),
        ),
        _ => profile(ProfileType::Unconfined, ""),
    }
}

/// AppArmor: the container's profile, else the pod's, else none (the runtime's default);
/// sent in both the field and the deprecated string, as the kubelet does.
fn apparmor(sc: &SecurityContext, pod: &Pod) -> (Option<SecurityProfile>, String) {
    let pod_profile = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.app_armor_profile.as_ref());
    match sc.app_armor_profile.as_ref().or(pod_profile) {
        None => (None, String::new()),
        Some(p) => match p.type_.as_str() {
            "RuntimeDefault" => (
                Some(profile(ProfileType::RuntimeDefault, "")),
                "runtime/default".into(),
            ),
            "Localhost" => {
                let name = p.localhost_profile.as_deref().unwrap_or("");
                (
                    Some(profile(ProfileType::Localhost, name)),
                    format!("localhost/{name}"),
                )
            }
            _ => (
                Some(profile(ProfileType::Unconfined, "")),
                "unconfined".into(),
            ),
        },
    }
}

/// The namespaces of the pod's containers: host network / PID / IPC as NODE, a shared
/// process namespace as POD, else one PID namespace per container.
pub fn namespaces(pod: &Pod) -> NamespaceOption {
    let spec = pod.spec.as_ref();
    let flag = |f: Option<bool>| f.unwrap_or(false);
    let host_network = flag(spec.and_then(|s| s.host_network));
    let host_pid = flag(spec.and_then(|s| s.host_pid));
    let host_ipc = flag(spec.and_then(|s| s.host_ipc));
    let share_pid = flag(spec.and_then(|s| s.share_process_namespace));
    let mode = |host: bool, otherwise: NamespaceMode| {
        if host {
            NamespaceMode::Node as i32
        } else {
            otherwise as i32
        }
    };
    NamespaceOption {
        network: mode(host_network, NamespaceMode::Pod),
        pid: if host_pid {
            NamespaceMode::Node as i32
        } else if share_pid {
            NamespaceMode::Pod as i32
        } else {
            NamespaceMode::Container as i32
        },
        ipc: mode(host_ipc, NamespaceMode::Pod),
        target_id: String::new(),
        // hostUsers unset or true: the node's user namespace.
        userns_options: Some(UserNamespace {
            mode: NamespaceMode::Node as i32,
        }),
    }
}

/// The pod's supplemental groups: fsGroup first, then supplementalGroups.
pub fn supplemental_groups(pod: &Pod) -> Vec<i64> {
    let sc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    sc.and_then(|s| s.fs_group)
        .into_iter()
        .chain(
            sc.and_then(|s| s.supplemental_groups.clone())
                .into_iter()
                .flatten(),
        )
        .collect()
}

/// The CRI security context of `container`.
// The deprecated AppArmor string is what containerd 1.6 reads; the kubelet sends both.
#[allow(deprecated)]
pub fn linux_security_context(
    pod: &Pod,
    container: &Container,
    image: &ImageUser,
) -> LinuxContainerSecurityContext {
    let sc = effective(pod, container);
    let (apparmor, apparmor_profile) = apparmor(&sc, pod);
    let unmasked = sc.proc_mount.as_deref() == Some("Unmasked");
    let paths = |list: &[&str]| {
        if unmasked {
            Vec::new()
        } else {
            list.iter().map(|p| p.to_string()).collect()
        }
    };
    let run_as_user = sc.run_as_user.or(image.uid);
    LinuxContainerSecurityContext {
        capabilities: sc.capabilities.as_ref().map(|c| Capability {
            add_capabilities: c.add.clone().unwrap_or_default(),
            drop_capabilities: c.drop.clone().unwrap_or_default(),
            add_ambient_capabilities: Vec::new(),
        }),
        privileged: sc.privileged.unwrap_or(false),
        namespace_options: Some(namespaces(pod)),
        selinux_options: sc
            .se_linux_options
            .as_ref()
            .map(|o| podflow::node::cri::SeLinuxOption {
                user: o.user.clone().unwrap_or_default(),
                role: o.role.clone().unwrap_or_default(),
                r#type: o.type_.clone().unwrap_or_default(),
                level: o.level.clone().unwrap_or_default(),
            }),
        run_as_user: run_as_user.map(|value| Int64Value { value }),
        run_as_group: sc.run_as_group.map(|value| Int64Value { value }),
        run_as_username: if sc.run_as_user.is_none() {
            image.username.clone()
        } else {
            String::new()
        },
        readonly_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
        supplemental_groups: supplemental_groups(pod),
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        masked_paths: paths(MASKED_PATHS),
        readonly_paths: paths(READONLY_PATHS),
        seccomp: Some(seccomp(&sc, pod)),
        apparmor,
        apparmor_profile,
    }
}
