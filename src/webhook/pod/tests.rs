//! Tests of the pod decisions and of the patch, applied to the pod.

use super::*;
use crate::webhook::sidecar::{build, PodFacts, Template};
use k8s_openapi::api::core::v1::Pod;

fn pod(value: Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

fn view(pod: &Pod) -> PodView<'_> {
    PodView {
        meta: Some(&pod.metadata),
        spec: pod.spec.as_ref().unwrap(),
        namespace: Some("shop"),
    }
}

fn deployment_pod() -> Pod {
    pod(json!({
        "metadata": {
            "generateName": "shop-web-7c9d8f6b5-",
            "labels": {"app": "shop", "app.kubernetes.io/part-of": "store",
                       "pod-template-hash": "7c9d8f6b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": "shop-web-7c9d8f6b5", "uid": "u", "controller": true,
                "blockOwnerDeletion": true}]
        },
        "spec": {"containers": [{"name": "web", "image": "nginx",
                                 "ports": [{"containerPort": 8080}]}]}
    }))
}

fn rules(labels: &[(&str, &str)], deployments: &[&str], mode: MatchMode) -> Match {
    Match {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        deployments: deployments.iter().map(|d| d.to_string()).collect(),
        mode,
    }
}

fn sidecar(native: bool) -> Sidecar {
    let settings = crate::webhook::Sidecar {
        native,
        ..Default::default()
    };
    build(
        &Template::for_tests(settings),
        &PodFacts {
            owner: Owner::Unknown,
            telemetry: true,
        },
    )
}

#[test]
fn deployment_from_the_replicaset_owner() {
    let p = deployment_pod();
    assert_eq!(view(&p).deployment(), Some("shop-web"));
    assert_eq!(
        view(&p).owner(),
        Owner::Workload {
            name: "shop-web".into(),
            kind: "Deployment".into()
        }
    );
    // A ReplicaSet of its own: no pod-template-hash.
    let mut lone = deployment_pod();
    lone.metadata
        .labels
        .as_mut()
        .unwrap()
        .remove("pod-template-hash");
    assert_eq!(view(&lone).deployment(), None);
    assert_eq!(
        view(&lone).owner(),
        Owner::Workload {
            name: "shop-web-7c9d8f6b5".into(),
            kind: "ReplicaSet".into()
        }
    );
}

#[test]
fn owners_of_other_controllers() {
    let owned = |kind: &str, name: &str| {
        pod(json!({
            "metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": kind, "name": name,
                                              "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "a"}]}
        }))
    };
    let owner = |p: &Pod| view(p).owner();
    let named = |n: &str, k: &str| Owner::Workload {
        name: n.into(),
        kind: k.into(),
    };
    assert_eq!(
        owner(&owned("StatefulSet", "db")),
        named("db", "StatefulSet")
    );
    assert_eq!(owner(&owned("Job", "migrate")), named("migrate", "Job"));
    assert_eq!(
        owner(&owned("Job", "backup-28437120")),
        named("backup", "CronJob")
    );
    assert_eq!(owner(&owned("Rollout", "r")), named("r", "Rollout"));
    let bare = pod(json!({"metadata": {"name": "debug"}, "spec": {"containers": []}}));
    assert_eq!(owner(&bare), Owner::ThePod);
}

#[test]
fn match_rules() {
    let p = deployment_pod();
    let v = view(&p);
    let any = MatchMode::Any;
    let all = MatchMode::All;
    assert!(!v.matches(&rules(&[], &[], any)), "nothing configured");
    assert!(v.matches(&rules(&[("app", "shop")], &[], any)));
    assert!(v.matches(&rules(
        &[("app", "shop"), ("app.kubernetes.io/part-of", "store")],
        &[],
        any
    )));
    assert!(!v.matches(&rules(&[("app", "shop"), ("tier", "web")], &[], any)));
    assert!(!v.matches(&rules(&[("app", "Shop")], &[], any)));
    assert!(v.matches(&rules(&[], &["shop-web"], any)));
    assert!(v.matches(&rules(&[], &["other", "shop/shop-web"], any)));
    assert!(!v.matches(&rules(&[], &["prod/shop-web"], any)));
    assert!(!v.matches(&rules(&[], &["shop"], any)));
    assert!(v.matches(&rules(&[("app", "x")], &["shop-web"], any)));
    assert!(!v.matches(&rules(&[("app", "x")], &["shop-web"], all)));
    assert!(v.matches(&rules(&[("app", "shop")], &["shop-web"], all)));
}

#[test]
fn decisions() {
    let mut warnings = Vec::new();
    let with = |annotations: Value, host_network: bool| {
        pod(json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"hostNetwork": host_network, "containers": [{"name": "a"}]}
        }))
    };
    let d = |p: &Pod, selected: bool, w: &mut Vec<String>| view(p).decide(selected, w);
    let none = json!({});
    assert_eq!(d(&with(none.clone(), false), true, &mut warnings), Ok(()));
    assert_eq!(
        d(&with(none.clone(), false), false, &mut warnings),
        Err(Skip::NotSelected)
    );
    let opt_in = json!({"podflow.io/inject": "true"});
    assert_eq!(
        d(&with(opt_in.clone(), false), false, &mut warnings),
        Ok(())
    );
    let opt_out = json!({"podflow.io/inject": "false"});
    assert_eq!(
        d(&with(opt_out, false), true, &mut warnings),
        Err(Skip::OptedOut)
    );
    assert_eq!(
        d(&with(opt_in, true), true, &mut warnings),
        Err(Skip::HostNetwork)
    );
    assert!(warnings.is_empty());
    let odd = json!({"podflow.io/inject": "yes"});
    assert_eq!(d(&with(odd, false), true, &mut warnings), Ok(()));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let done = json!({"podflow.io/status": "injected"});
    assert_eq!(
        d(&with(done, false), true, &mut warnings),
        Err(Skip::AlreadyInjected)
    );
}

fn paths_of(patch: &Patch) -> Vec<String> {
    serde_json::to_value(patch)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn patch_escapes_pointers_and_creates_what_is_missing() {
    let p = deployment_pod();
    let paths = paths_of(&view(&p).patch(&sidecar(true)));
    assert_eq!(
        paths,
        [
            "/spec/initContainers",
            "/spec/volumes",
            "/metadata/annotations"
        ]
    );
    let mut p = deployment_pod();
    p.metadata.annotations = Some([("a/b~c".to_string(), "x".to_string())].into());
    p.spec.as_mut().unwrap().volumes = Some(vec![]);
    p.spec.as_mut().unwrap().init_containers = Some(vec![]);
    let paths = paths_of(&view(&p).patch(&sidecar(true)));
    assert_eq!(
        paths,
        [
            "/spec/initContainers/0",
            "/spec/volumes/-",
            "/metadata/annotations/podflow.io~1status"
        ]
    );
    assert_eq!(
        paths_of(&view(&p).patch(&sidecar(false)))[0],
        "/spec/containers/-"
    );
}

#[test]
fn patched_pod_has_the_sidecar_once_and_then_is_left_alone() {
    for native in [true, false] {
        let p = deployment_pod();
        let mut doc = serde_json::to_value(&p).unwrap();
        json_patch::patch(&mut doc, &view(&p).patch(&sidecar(native))).unwrap();
        let patched: Pod = serde_json::from_value(doc).unwrap();
        let spec = patched.spec.as_ref().unwrap();
        let all: Vec<&str> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| c.name.as_str())
            .filter(|n| *n == CONTAINER_NAME)
            .collect();
        assert_eq!(all.len(), 1);
        assert_eq!(
            patched.metadata.annotations.as_ref().unwrap()[STATUS_ANNOTATION],
            STATUS_INJECTED
        );
        assert_eq!(
            view(&patched).decide(true, &mut Vec::new()),
            Err(Skip::AlreadyInjected)
        );
    }
}

#[test]
fn declared_ports() {
    let p = deployment_pod();
    assert!(view(&p).uses_port(8080));
    assert!(!view(&p).uses_port(9477));
}

#[test]
fn a_huge_annotation_value_is_cut_in_the_warning() {
    let huge = "y".repeat(256 * 1024);
    let p = pod(json!({
        "metadata": {"name": "p", "annotations": {"podflow.io/inject": huge}},
        "spec": {"containers": [{"name": "a"}]}
    }));
    let mut warnings = Vec::new();
    assert_eq!(view(&p).decide(true, &mut warnings), Ok(()));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("(262144 bytes)"), "{}", warnings[0]);
    assert!(warnings[0].len() < 250, "{}", warnings[0]);
}
