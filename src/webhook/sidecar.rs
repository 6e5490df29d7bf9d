//! The podflow sidecar as a container spec: built in one place for the admission webhook,
//! `podflow inject` and the Kustomize component.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, DownwardAPIVolumeFile, DownwardAPIVolumeSource, EnvVar,
    EnvVarSource, ObjectFieldSelector, ResourceRequirements, SeccompProfile, SecurityContext,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::config::ResourceList;

/// Name of the injected container.
pub const CONTAINER_NAME: &str = "podflow";
/// Name of the Downward-API volume with the pod's labels and annotations.
pub const VOLUME_NAME: &str = "podflow-podinfo";
/// Where that volume is mounted; `k8s.labels_file` and `k8s.annotations_file` point here.
pub const PODINFO_DIR: &str = "/etc/podinfo";
/// Name of the telemetry port of the sidecar (at most 15 characters).
pub const TELEMETRY_PORT_NAME: &str = "podflow-metrics";
/// Variable that holds `status.podIPs` as the kubelet gives it (`10.1.2.3,fd00::3`); it
/// is outside the `PODFLOW_` prefix because it is not configuration itself.
pub const POD_IPS_VAR: &str = "POD_IPS";

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

impl Template {
    /// The template of the processes' configuration.
    pub fn from_config(config: &crate::config::Config) -> Template {
        Template {
            settings: config.webhook.sidecar.clone(),
            collector: config.export.collector.to_string(),
            enterprise_number: config.ipfix.enterprise_number,
            cluster_name: config.k8s.cluster_name.clone(),
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

/// The sidecar for one pod: its container and the volume the container mounts.
#[derive(Clone, Debug, PartialEq)]
pub struct Sidecar {
    /// The container; an init container with `restartPolicy: Always` when `native`.
    pub container: Container,
    /// The Downward-API volume of labels and annotations.
    pub volume: Volume,
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
        security_context: Some(SecurityContext {
            // Kubernetes has no ambient capabilities: NET_RAW is effective only for UID 0,
            // so an operator may choose 0 (with nothing but NET_RAW) to capture.
            run_as_non_root: Some(settings.run_as_user != 0),
            run_as_user: Some(settings.run_as_user),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: Some(vec!["NET_RAW".into()]),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: VOLUME_NAME.into(),
            mount_path: PODINFO_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    Sidecar {
        container,
        volume: podinfo_volume(),
        native: settings.native,
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
        // The kubelet expands $(VAR) of a variable defined above: a list podflow reads.
        value("PODFLOW_K8S__POD_IPS", &format!("[$({POD_IPS_VAR})]")),
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
    env
}

fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
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
mod tests {
    use super::*;
    use crate::config::{Config, EnvLayer};

    fn env_of(sidecar: &Sidecar) -> Vec<(String, String)> {
        sidecar
            .container
            .env
            .iter()
            .flatten()
            .map(|e| {
                let v = e.value.clone().unwrap_or_else(|| {
                    let path = &e.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
                    format!("fieldRef:{}", path.field_path)
                });
                (e.name.clone(), v)
            })
            .collect()
    }

    /// The environment the kubelet would give the sidecar of a pod with these values.
    fn kubelet_env(sidecar: &Sidecar, fields: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, v) in env_of(sidecar) {
            let v = match v.strip_prefix("fieldRef:") {
                Some(path) => fields
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default(),
                None => out
                    .iter()
                    .fold(v, |acc, (n, val)| acc.replace(&format!("$({n})"), val)),
            };
            out.push((name, v));
        }
        out
    }

    const FIELDS: &[(&str, &str)] = &[
        ("metadata.name", "shop-web-7c9d8f6b5-x2x9k"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "0b1c6f3e-1111-2222-3333-444455556666"),
        ("spec.nodeName", "node-1"),
        ("status.hostIP", "192.168.1.10"),
        ("status.podIPs", "10.1.2.3,fd00::3"),
    ];

    #[test]
    fn injected_environment_is_a_valid_sidecar_configuration() {
        let mut config = Config::default();
        config.k8s.cluster_name = Some("prod".into());
        config.export.collector = "udp://10.0.0.5:4739".parse().unwrap();
        let template = Template::from_config(&config);
        let owner = Owner::Workload {
            name: "shop-web".into(),
            kind: "Deployment".into(),
        };
        let sidecar = build(
            &template,
            &PodFacts {
                owner,
                telemetry: true,
            },
        );
        let env = kubelet_env(&sidecar, FIELDS)
            .into_iter()
            .filter(|(k, _)| k.starts_with("PODFLOW_"));
        let fig = Config::figment(None, EnvLayer::from_vars(env)).unwrap();
        let c = Config::from_figment(fig).unwrap();
        assert_eq!(c.k8s.pod_name.as_deref(), Some("shop-web-7c9d8f6b5-x2x9k"));
        assert_eq!(
            c.k8s.pod_ips,
            vec![
                "10.1.2.3".parse::<std::net::IpAddr>().unwrap(),
                "fd00::3".parse().unwrap()
            ]
        );
        assert_eq!(c.k8s.node_ip, Some("192.168.1.10".parse().unwrap()));
        assert_eq!(c.k8s.workload_name.as_deref(), Some("shop-web"));
        assert_eq!(c.k8s.workload_kind.as_deref(), Some("Deployment"));
        assert_eq!(c.k8s.cluster_name.as_deref(), Some("prod"));
        assert_eq!(c.export.collector, config.export.collector);
        assert_eq!(c.telemetry.listen, "0.0.0.0:9477");
        assert_eq!(c.k8s.labels_file.to_str(), Some("/etc/podinfo/labels"));
    }

    #[test]
    fn single_stack_and_bare_pod() {
        let template = Template::from_config(&Config::default());
        let sidecar = build(
            &template,
            &PodFacts {
                owner: Owner::ThePod,
                telemetry: false,
            },
        );
        let mut fields = FIELDS.to_vec();
        fields[5] = ("status.podIPs", "10.1.2.3");
        let env = kubelet_env(&sidecar, &fields)
            .into_iter()
            .filter(|(k, _)| k.starts_with("PODFLOW_"));
        let c =
            Config::from_figment(Config::figment(None, EnvLayer::from_vars(env)).unwrap()).unwrap();
        assert_eq!(c.k8s.pod_ips.len(), 1);
        assert_eq!(
            c.k8s.workload_name.as_deref(),
            Some("shop-web-7c9d8f6b5-x2x9k")
        );
        assert_eq!(c.k8s.workload_kind.as_deref(), Some("Pod"));
        assert_eq!(c.telemetry.listen, "");
        assert!(sidecar.container.ports.is_none());
    }

    #[test]
    fn native_or_regular() {
        let mut config = Config::default();
        let facts = PodFacts {
            owner: Owner::Unknown,
            telemetry: true,
        };
        let native = build(&Template::from_config(&config), &facts);
        assert!(native.native);
        assert_eq!(native.container.restart_policy.as_deref(), Some("Always"));
        config.webhook.sidecar.native = false;
        let regular = build(&Template::from_config(&config), &facts);
        assert!(!regular.native);
        assert_eq!(regular.container.restart_policy, None);
        assert!(!env_of(&regular)
            .iter()
            .any(|(k, _)| k.starts_with("PODFLOW_K8S__WORKLOAD")));
    }
}
