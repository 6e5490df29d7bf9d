//! The podflow sidecar as a container spec: built in one place for the admission webhook,
//! `podflow inject` and the Kustomize component.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, Probe, ResourceRequirements, SecretVolumeSource, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::ResourceList;

pub mod security;

/// Name of the injected container.
pub const CONTAINER_NAME: &str = "podflow";
/// Name of the Downward-API volume with the pod's labels and annotations.
const VOLUME_NAME: &str = "podflow-podinfo";
/// Where that volume is mounted; `k8s.labels_file` and `k8s.annotations_file` point here.
const PODINFO_DIR: &str = "/etc/podinfo";
/// Name of the volume of the collector's TLS Secret.
const COLLECTOR_TLS_VOLUME: &str = "podflow-collector-tls";
/// Where that volume is mounted; `export.tls_*` point here.
const COLLECTOR_TLS_DIR: &str = "/etc/podflow/collector-tls";
/// Name of the telemetry port of the sidecar (at most 15 characters).
pub const TELEMETRY_PORT_NAME: &str = "podflow-metrics";
/// Variable that holds `status.podIPs` as the kubelet gives it (`10.1.2.3,fd00::3`); it
/// is outside the `PODFLOW_` prefix because it is not configuration itself.
const POD_IPS_VAR: &str = "POD_IPS";
/// Path of the sidecar's startup probe: 200 once capture runs, or once its startup grace
/// has passed when it cannot capture.
const STARTUP_PATH: &str = "/startupz";

/// What every injected sidecar shares, from the configuration of the injecting process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// `webhook.sidecar`.
    pub settings: super::config::Sidecar,
    /// `export.collector`, as text.
    pub collector: String,
    /// `ipfix.enterprise_number`.
    pub enterprise_number: u32,
    /// `k8s.cluster_name`.
    pub cluster_name: Option<String>,
}

#[cfg(test)]
impl Template {
    /// The template of a process configured with `settings` and every other default: JSON
    /// lines on stdout, enterprise number 32473, no cluster name.
    pub(crate) fn for_tests(settings: super::config::Sidecar) -> Template {
        Template {
            settings,
            collector: "stdout".into(),
            enterprise_number: 32473,
            cluster_name: None,
        }
    }
}

/// The pod's top owner as known when the sidecar is added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A named workload (`Deployment` `shop-web`, ...).
    Workload {
        /// Its name.
        name: String,
        /// Its kind as the API spells it.
        kind: String,
    },
    /// The pod stands alone: the workload is the pod, whose name may not be known yet.
    ThePod,
    /// Not known: the sidecar derives it from the pod name and labels.
    Unknown,
}

/// What differs from pod to pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodFacts {
    /// The pod's top owner.
    pub owner: Owner,
    /// Whether the telemetry port is free in this pod.
    pub telemetry: bool,
}

/// The sidecar for one pod: its container and the volumes the container mounts.
#[derive(Clone, Debug, PartialEq)]
pub struct Sidecar {
    /// The container; an init container with `restartPolicy: Always` when `native`.
    pub container: Container,
    /// The Downward-API volume of labels and annotations, and the collector's TLS Secret
    /// when one is configured.
    pub volumes: Vec<Volume>,
    /// Whether `container` goes into `initContainers` (else `containers`).
    pub native: bool,
}

/// Builds the sidecar from the shared template and what is particular to the pod.
pub fn build(template: &Template, pod: &PodFacts) -> Sidecar {
    let settings = &template.settings;
    let telemetry_port =
        (pod.telemetry && settings.telemetry_port != 0).then_some(settings.telemetry_port);
    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(settings.image()),
        image_pull_policy: Some(settings.pull_policy.as_str().into()),
        args: Some(vec!["--mode".into(), "sidecar".into()]),
        env: Some(env(template, &pod.owner, telemetry_port)),
        ports: telemetry_port.map(|port| {
            vec![ContainerPort {
                name: Some(TELEMETRY_PORT_NAME.into()),
                container_port: i32::from(port),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]
        }),
        resources: Some(ResourceRequirements {
            requests: quantities(&settings.resources.requests),
            limits: quantities(&settings.resources.limits),
            ..Default::default()
        }),
        restart_policy: settings.native.then(|| "Always".into()),
        // The kubelet starts the application's containers once a native sidecar's startup
        // probe succeeds, so the sidecar captures their first packets. A regular container
        // gates nothing and gets none. There is deliberately no readinessProbe: a sidecar
        // that is not ready would take the whole pod out of its Services.
        startup_probe: telemetry_port
            .filter(|_| settings.native)
            .map(|_| startup_probe()),
        security_context: Some(security::context(settings)),
        volume_mounts: Some(mounts(settings)),
        ..Default::default()
    };
    let mut volumes = vec![podinfo_volume()];
    if !settings.collector_tls_secret.is_empty() {
        volumes.push(Volume {
            name: COLLECTOR_TLS_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(settings.collector_tls_secret.clone()),
                optional: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    Sidecar {
        container,
        volumes,
        native: settings.native,
    }
}

/// The sidecar's mounts: the Downward-API files, and the collector's TLS Secret.
fn mounts(settings: &super::config::Sidecar) -> Vec<VolumeMount> {
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..Default::default()
    };
    let mut mounts = vec![mount(VOLUME_NAME, PODINFO_DIR)];
    if !settings.collector_tls_secret.is_empty() {
        mounts.push(mount(COLLECTOR_TLS_VOLUME, COLLECTOR_TLS_DIR));
    }
    mounts
}

/// The startup probe of a native sidecar with telemetry: it answers 200 once capture
/// runs, or after its startup grace (5 s by default) when it cannot capture, well within
/// the 10 s this probe allows; so the application waits a few seconds at most, and the
/// probe never restarts the sidecar.
fn startup_probe() -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(STARTUP_PATH.into()),
            port: IntOrString::String(TELEMETRY_PORT_NAME.into()),
            ..Default::default()
        }),
        period_seconds: Some(1),
        timeout_seconds: Some(1),
        failure_threshold: Some(10),
        ..Default::default()
    }
}

fn env(template: &Template, owner: &Owner, telemetry_port: Option<u16>) -> Vec<EnvVar> {
    let mut env = vec![
        value("PODFLOW_EXPORT__COLLECTOR", &template.collector),
        value(
            "PODFLOW_IPFIX__ENTERPRISE_NUMBER",
            &template.enterprise_number.to_string(),
        ),
    ];
    if let Some(cluster) = &template.cluster_name {
        env.push(value("PODFLOW_K8S__CLUSTER_NAME", cluster));
    }
    env.extend([
        field("PODFLOW_K8S__POD_NAME", "metadata.name"),
        field("PODFLOW_K8S__POD_NAMESPACE", "metadata.namespace"),
        field("PODFLOW_K8S__POD_UID", "metadata.uid"),
        field("PODFLOW_K8S__NODE_NAME", "spec.nodeName"),
        field("PODFLOW_K8S__NODE_IP", "status.hostIP"),
        field(POD_IPS_VAR, "status.podIPs"),
        // The one reference the kubelet is meant to expand, to a variable defined above:
        // a list podflow reads.
        EnvVar {
            name: "PODFLOW_K8S__POD_IPS".into(),
            value: Some(format!("[$({POD_IPS_VAR})]")),
            value_from: None,
        },
    ]);
    match owner {
        Owner::Workload { name, kind } => env.extend([
            value("PODFLOW_K8S__WORKLOAD_NAME", name),
            value("PODFLOW_K8S__WORKLOAD_KIND", kind),
        ]),
        Owner::ThePod => env.extend([
            field("PODFLOW_K8S__WORKLOAD_NAME", "metadata.name"),
            value("PODFLOW_K8S__WORKLOAD_KIND", "Pod"),
        ]),
        Owner::Unknown => {}
    }
    env.extend([
        value("PODFLOW_K8S__LABELS_FILE", &format!("{PODINFO_DIR}/labels")),
        value(
            "PODFLOW_K8S__ANNOTATIONS_FILE",
            &format!("{PODINFO_DIR}/annotations"),
        ),
        value(
            "PODFLOW_TELEMETRY__LISTEN",
            &telemetry_port.map_or(String::new(), |p| format!("0.0.0.0:{p}")),
        ),
    ]);
    let settings = &template.settings;
    if !settings.collector_tls_secret.is_empty() {
        env.push(value(
            "PODFLOW_EXPORT__TLS_CA",
            &format!("{COLLECTOR_TLS_DIR}/ca.crt"),
        ));
        if settings.collector_tls_client_cert {
            env.extend([
                value(
                    "PODFLOW_EXPORT__TLS_CERT",
                    &format!("{COLLECTOR_TLS_DIR}/tls.crt"),
                ),
                value(
                    "PODFLOW_EXPORT__TLS_KEY",
                    &format!("{COLLECTOR_TLS_DIR}/tls.key"),
                ),
            ]);
        }
    }
    env
}

/// A variable with a literal value. The kubelet expands `$(NAME)` in env values and
/// turns `$$` into `$`: every `$` is doubled so that a name or a setting holding
/// `$(...)` reaches the sidecar as written.
fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.replace('$', "$$")),
        value_from: None,
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: path.into(),
            }),
            ..Default::default()
        }),
    }
}

fn quantities(list: &ResourceList) -> Option<BTreeMap<String, Quantity>> {
    let map: BTreeMap<String, Quantity> = [("cpu", &list.cpu), ("memory", &list.memory)]
        .into_iter()
        .filter_map(|(k, q)| Some((k.to_string(), Quantity(q.as_ref()?.to_string()))))
        .collect();
    (!map.is_empty()).then_some(map)
}

fn podinfo_volume() -> Volume {
    let file = |path: &str, field: &str| DownwardAPIVolumeFile {
        path: path.into(),
        field_ref: Some(ObjectFieldSelector {
            api_version: None,
            field_path: field.into(),
        }),
        ..Default::default()
    };
    Volume {
        name: VOLUME_NAME.into(),
        downward_api: Some(DownwardAPIVolumeSource {
            items: Some(vec![
                file("labels", "metadata.labels"),
                file("annotations", "metadata.annotations"),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
pub(crate) mod kubelet;
#[cfg(test)]
mod tests;
