//! Volumes, mounts, the atomic writer and /etc/hosts, as the kubelet lays them out.

use super::*;

fn volume_pod() -> Pod {
    pod(json!({
        "metadata": {"name": "v", "uid": "u4", "labels": {"app": "v"}},
        "spec": {
            "volumes": [
                {"name": "info", "downwardAPI": {"defaultMode": 0o600, "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "sub/name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400}
                ]}},
                {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "renamed"}]}},
                {"name": "token", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"configMap": {"name": "cfg"}}
                ]}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "netns", "hostPath": {"path": "/var/run/netns"}}
            ],
            "containers": [{"name": "c", "volumeMounts": [
                {"name": "info", "mountPath": "/etc/podinfo", "readOnly": true},
                {"name": "cfg", "mountPath": "/cfg/renamed", "subPath": "renamed"},
                {"name": "netns", "mountPath": "/var/run/netns", "mountPropagation": "HostToContainer"},
                {"name": "scratch", "mountPath": "/tmp"}
            ]}, {"name": "bidi", "volumeMounts": [
                {"name": "netns", "mountPath": "/var/run/netns", "mountPropagation": "Bidirectional"}
            ]}]
        }
    }))
}

#[test]
fn volumes_and_mounts_as_the_kubelet_lays_them_out() {
    let p = volume_pod();
    let objects = Objects {
        config_maps: BTreeMap::from([(
            "cfg".to_string(),
            BTreeMap::from([
                ("a".to_string(), "A".to_string()),
                ("b".to_string(), "B".to_string()),
            ]),
        )]),
        service_account_token: Some("tok".into()),
        ..Default::default()
    };
    let plan = volumes::plan(&p, &node(), &addresses(), &objects).unwrap();
    let pod_dir = Path::new("/var/lib/kubelet/pods/u4/volumes");
    assert_eq!(
        plan["info"].path,
        pod_dir.join("kubernetes.io~downward-api/info")
    );
    assert_eq!(
        plan["cfg"].path,
        pod_dir.join("kubernetes.io~configmap/cfg")
    );
    assert_eq!(
        plan["token"].path,
        pod_dir.join("kubernetes.io~projected/token")
    );
    assert_eq!(
        plan["scratch"],
        volumes::PodVolume {
            path: pod_dir.join("kubernetes.io~empty-dir/scratch"),
            setup: Setup::EmptyDir
        }
    );
    assert_eq!(plan["netns"].path, Path::new("/node/netns"));
    let Setup::Payload(info) = &plan["info"].setup else {
        panic!()
    };
    assert_eq!(
        info["labels"],
        File {
            data: b"app=\"v\"".to_vec(),
            mode: 0o600
        }
    );
    assert_eq!(
        info["sub/name"],
        File {
            data: b"v".to_vec(),
            mode: 0o400
        }
    );
    let Setup::Payload(cfg) = &plan["cfg"].setup else {
        panic!()
    };
    assert_eq!(cfg.keys().collect::<Vec<_>>(), ["renamed"]);
    let Setup::Payload(token) = &plan["token"].setup else {
        panic!()
    };
    assert_eq!(token.keys().collect::<Vec<_>>(), ["a", "b", "token"]);
    assert_eq!(token["token"].mode, 0o644);

    let mounts = volumes::mounts(&container(&p, "c"), &plan, false).unwrap();
    let got: Vec<(&str, &str, bool, i32)> = mounts
        .iter()
        .map(|m| {
            (
                m.container_path.as_str(),
                m.host_path.as_str(),
                m.readonly,
                m.propagation,
            )
        })
        .collect();
    let private = MountPropagation::PropagationPrivate as i32;
    assert_eq!(
        got,
        [
            (
                "/etc/podinfo",
                "/var/lib/kubelet/pods/u4/volumes/kubernetes.io~downward-api/info",
                true,
                private
            ),
            (
                "/cfg/renamed",
                "/var/lib/kubelet/pods/u4/volumes/kubernetes.io~configmap/cfg/renamed",
                false,
                private
            ),
            (
                "/var/run/netns",
                "/node/netns",
                false,
                MountPropagation::PropagationHostToContainer as i32
            ),
            (
                "/tmp",
                "/var/lib/kubelet/pods/u4/volumes/kubernetes.io~empty-dir/scratch",
                false,
                private
            ),
        ]
    );
    assert!(
        volumes::mounts(&container(&p, "bidi"), &plan, false).is_err(),
        "Bidirectional needs privileged"
    );
    let bidi = volumes::mounts(&container(&p, "bidi"), &plan, true).unwrap();
    assert_eq!(
        bidi[0].propagation,
        MountPropagation::PropagationBidirectional as i32
    );

    // A hostPath the node does not map is refused; a missing configMap too.
    let mut other = node();
    other.host_paths.clear();
    assert!(
        matches!(volumes::plan(&p, &other, &addresses(), &objects), Err(TranslateError::HostPath(p)) if p == "/var/run/netns")
    );
    assert!(volumes::plan(&p, &node(), &addresses(), &Objects::default()).is_err());
}

#[test]
fn the_atomic_writer_swaps_payloads() {
    use std::time::{Duration, UNIX_EPOCH};
    // 2024-02-29T13:05:09Z
    let t = UNIX_EPOCH + Duration::from_secs(1_709_211_909);
    assert_eq!(volumes::payload_dir_name(t, 42), "..2024_02_29_13_05_09.42");
    assert_eq!(
        volumes::payload_dir_name(UNIX_EPOCH, 7),
        "..1970_01_01_00_00_00.7"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = |data: &str, mode| File {
        data: data.as_bytes().to_vec(),
        mode,
    };
    let first = BTreeMap::from([
        ("labels".to_string(), file("app=\"a\"", 0o644)),
        ("sub/name".to_string(), file("x", 0o400)),
    ]);
    let name = write_atomic(dir.path(), &first).unwrap();
    assert!(name.starts_with("..") && name.len() > 22, "{name}");
    let d = dir.path();
    assert_eq!(
        std::fs::read_link(d.join("..data")).unwrap(),
        Path::new(&name)
    );
    assert_eq!(
        std::fs::read_link(d.join("labels")).unwrap(),
        Path::new("..data/labels")
    );
    assert_eq!(
        std::fs::read_link(d.join("sub")).unwrap(),
        Path::new("..data/sub")
    );
    assert_eq!(
        std::fs::read_to_string(d.join("labels")).unwrap(),
        "app=\"a\""
    );
    assert_eq!(std::fs::read_to_string(d.join("sub/name")).unwrap(), "x");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d.join(&name)), 0o755);
    assert_eq!(mode(&d.join("sub/name")), 0o400);
    assert_eq!(mode(&d.join("labels")), 0o644);

    // A label change: a new payload, `..data` swapped, the old payload and stale links gone.
    let second = BTreeMap::from([("labels".to_string(), file("app=\"b\"", 0o644))]);
    let next = write_atomic(d, &second).unwrap();
    assert_ne!(next, name);
    assert_eq!(
        std::fs::read_to_string(d.join("labels")).unwrap(),
        "app=\"b\""
    );
    assert!(!d.join(&name).exists());
    assert!(std::fs::symlink_metadata(d.join("sub")).is_err());
    let mut entries: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    let mut want = vec!["..data".to_string(), next, "labels".to_string()];
    want.sort();
    assert_eq!(entries, want);
}

#[test]
fn etc_hosts_as_the_kubelet_writes_it() {
    let hosts = volumes::etc_hosts(&["10.88.1.5".into()], "web-0", None);
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
    assert!(hosts.ends_with("fe00::2\tip6-allrouters\n10.88.1.5\tweb-0\n"));
    let host = volumes::etc_hosts(&[], "", Some("127.0.0.1 node\n"));
    assert_eq!(
        host,
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 node\n"
    );
}
