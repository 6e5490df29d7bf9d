//! The securityContext merged as the kubelet merges it, and its runAsNonRoot check.

use super::*;

fn secure_pod() -> Pod {
    pod(json!({
        "metadata": {"name": "p", "uid": "u"},
        "spec": {
            "securityContext": {
                "runAsUser": 1000, "runAsGroup": 3000, "runAsNonRoot": true, "fsGroup": 2000,
                "supplementalGroups": [4000],
                "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}
            },
            "containers": [
                {"name": "inherits"},
                {"name": "locked", "securityContext": {
                    "runAsUser": 65532, "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                    "appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-podflow"}
                }},
                {"name": "root", "securityContext": {"runAsUser": 0}},
                {"name": "image-user", "securityContext": {"runAsNonRoot": false}}
            ]
        }
    }))
}

#[test]
#[allow(deprecated)]
fn security_contexts_merge_as_the_kubelet_merges_them() {
    let p = secure_pod();
    let image = ImageUser::default();
    let inherits = linux_security_context(&p, &container(&p, "inherits"), &image);
    assert_eq!(inherits.run_as_user.unwrap().value, 1000);
    assert_eq!(inherits.run_as_group.unwrap().value, 3000);
    assert_eq!(inherits.supplemental_groups, [2000, 4000]);
    assert!(!inherits.no_new_privs && !inherits.readonly_rootfs && !inherits.privileged);
    assert!(inherits.capabilities.is_none());
    let seccomp = inherits.seccomp.unwrap();
    assert_eq!(seccomp.profile_type, ProfileType::Localhost as i32);
    assert_eq!(seccomp.localhost_ref, "p.json");
    assert!(inherits.apparmor.is_none() && inherits.apparmor_profile.is_empty());
    assert!(inherits.masked_paths.contains(&"/proc/kcore".to_string()));
    assert!(inherits.readonly_paths.contains(&"/proc/sys".to_string()));
    let ns = inherits.namespace_options.unwrap();
    assert_eq!(ns.network, NamespaceMode::Pod as i32);
    assert_eq!(ns.pid, NamespaceMode::Container as i32);

    let locked = linux_security_context(&p, &container(&p, "locked"), &image);
    assert_eq!(locked.run_as_user.unwrap().value, 65532);
    assert_eq!(locked.run_as_group.unwrap().value, 3000, "from the pod");
    assert!(locked.no_new_privs && locked.readonly_rootfs);
    let caps = locked.capabilities.unwrap();
    assert_eq!(
        (caps.add_capabilities, caps.drop_capabilities),
        (vec!["NET_RAW".to_string()], vec!["ALL".to_string()])
    );
    assert!(caps.add_ambient_capabilities.is_empty());
    assert_eq!(
        locked.seccomp.unwrap().profile_type,
        ProfileType::RuntimeDefault as i32
    );
    assert_eq!(locked.apparmor.unwrap().localhost_ref, "k8s-podflow");
    assert_eq!(locked.apparmor_profile, "localhost/k8s-podflow");

    // A pod without any profile is Unconfined (no --seccomp-default).
    let bare = pod(json!({"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c"}]}}));
    let sc = linux_security_context(
        &bare,
        &container(&bare, "c"),
        &ImageUser {
            uid: Some(7),
            username: String::new(),
        },
    );
    assert_eq!(
        sc.seccomp.unwrap().profile_type,
        ProfileType::Unconfined as i32
    );
    assert_eq!(sc.run_as_user.unwrap().value, 7, "the image's user");
}

#[test]
fn run_as_non_root_is_checked_by_the_kubelet() {
    let p = secure_pod();
    let root_image = ImageUser {
        uid: Some(0),
        username: String::new(),
    };
    let check =
        |name: &str, image: &ImageUser| verify_run_as_non_root(&p, &container(&p, name), image);
    assert!(
        check("inherits", &root_image).is_ok(),
        "runAsUser 1000 wins over the image"
    );
    let err = check("root", &root_image).unwrap_err();
    assert!(
        matches!(&err, TranslateError::NonRoot { container, .. } if container == "root"),
        "{err}"
    );
    assert!(err.to_string().contains("runAsUser breaks non-root policy"));
    // runAsNonRoot false on the container lifts the pod's rule.
    assert!(check("image-user", &root_image).is_ok());

    let q = pod(json!({"metadata": {"name": "q"}, "spec": {
        "securityContext": {"runAsNonRoot": true}, "containers": [{"name": "c"}]}}));
    let c = container(&q, "c");
    let err = verify_run_as_non_root(&q, &c, &root_image).unwrap_err();
    assert!(err.to_string().contains("image will run as root"), "{err}");
    let named = ImageUser {
        uid: None,
        username: "nobody".into(),
    };
    assert!(verify_run_as_non_root(&q, &c, &named)
        .unwrap_err()
        .to_string()
        .contains("non-numeric user"));
    assert!(verify_run_as_non_root(
        &q,
        &c,
        &ImageUser {
            uid: Some(65532),
            username: String::new()
        }
    )
    .is_ok());
    // And container_config refuses too.
    let volumes = BTreeMap::new();
    let ctx = ContainerContext {
        node: &node(),
        addresses: &addresses(),
        objects: &Objects::default(),
        image: root_image,
        volumes: &volumes,
        extra_mounts: Vec::new(),
        attempt: 0,
    };
    assert!(kubelet::container_config(&q, &c, &ctx).is_err());
}
