//! The rules of the Kubernetes Pod Security Standards that podflow's pods touch, checked
//! on a pod spec (JSON) as Pod Security Admission checks a pod after mutation: host
//! namespaces, privileged containers, host ports, added capabilities and seccomp for
//! `baseline`; for `restricted` also privilege escalation, non-root, dropping ALL and a
//! RuntimeDefault or Localhost seccomp profile. (Volumes, AppArmor, SELinux, /proc mount
//! and sysctls are left out: podflow sets none of them.)
#![allow(dead_code)]

use serde_json::Value;

/// The capabilities `baseline` allows a container to add. Written out here from the
/// standard, not taken from podflow (whose `baseline` profile drops the same names, as
/// containerd's defaults but NET_RAW): a check must not share the list it checks.
pub const BASELINE_ADD: [&str; 13] = [
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

/// A Pod Security Standards level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Baseline,
    Restricted,
}

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |list| spec[list].as_array().into_iter().flatten())
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// What in the pod spec `spec` breaks `level`, one line per rule and container.
pub fn violations(spec: &Value, level: Level) -> Vec<String> {
    let mut out = Vec::new();
    for ns in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[ns] == true {
            out.push(format!("{ns}: true"));
        }
    }
    let pod_sc = &spec["securityContext"];
    if pod_sc["seccompProfile"]["type"] == "Unconfined" {
        out.push("pod seccompProfile Unconfined".into());
    }
    for c in containers(spec) {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        if sc["privileged"] == true {
            out.push(format!("{name}: privileged"));
        }
        for port in c["ports"].as_array().into_iter().flatten() {
            if port["hostPort"].as_i64().unwrap_or(0) != 0 {
                out.push(format!("{name}: hostPort"));
            }
        }
        let added = strings(&sc["capabilities"]["add"]);
        let seccomp = sc["seccompProfile"]["type"]
            .as_str()
            .or(pod_sc["seccompProfile"]["type"].as_str());
        if sc["seccompProfile"]["type"] == "Unconfined" {
            out.push(format!("{name}: seccompProfile Unconfined"));
        }
        for cap in &added {
            if !BASELINE_ADD.contains(cap) {
                out.push(format!("{name}: adds {cap}"));
            }
        }
        if level == Level::Baseline {
            continue;
        }
        if sc["allowPrivilegeEscalation"] != false {
            out.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        let non_root = if sc["runAsNonRoot"].is_boolean() {
            &sc["runAsNonRoot"]
        } else {
            &pod_sc["runAsNonRoot"]
        };
        if *non_root != true {
            out.push(format!("{name}: runAsNonRoot is not true"));
        }
        if sc["runAsUser"] == 0 {
            out.push(format!("{name}: runAsUser 0"));
        }
        if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
            out.push(format!("{name}: seccompProfile {seccomp:?}"));
        }
        if !strings(&sc["capabilities"]["drop"]).contains(&"ALL") {
            out.push(format!("{name}: does not drop ALL"));
        }
        for cap in added {
            if cap != "NET_BIND_SERVICE" {
                out.push(format!("{name}: restricted refuses adding {cap}"));
            }
        }
    }
    if level == Level::Restricted && pod_sc["runAsUser"] == 0 {
        out.push("pod runAsUser 0".into());
    }
    out
}

/// The levels the pod spec meets, of baseline and restricted.
pub fn levels(spec: &Value) -> Vec<Level> {
    [Level::Baseline, Level::Restricted]
        .into_iter()
        .filter(|&level| violations(spec, level).is_empty())
        .collect()
}
