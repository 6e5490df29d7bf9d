//! `$(VAR)` reaches the sidecar literally. The pod's owner is a ReplicaSet named
//! `$(PODFLOW_EXPORT__COLLECTOR)-<hash>`, so its Deployment is `$(PODFLOW_EXPORT__COLLECTOR)`:
//! not a valid name, but owner names reach the sidecar builder unchecked, and the kubelet
//! expands `$(NAME)` in env values against the variables before them, the collector's
//! among them. Through the webhook's patch and the harness's kubelet, the sidecar's
//! process gets that text as its workload name, its records say so, and its collector is
//! the configured one.

use std::time::Duration;

use podflow::ipfix::DataRecord;
use serde_json::json;

use crate::cri::images;
use crate::cri::node::Node;
use crate::pod::{deployment_review, Injected};
use crate::process::environ;
use crate::traffic::{answered_http, is_http, test_records};

#[test]
fn an_owner_named_with_a_reference_reaches_the_sidecar_literally_root() {
    let node = Node::start(
        5,
        &[&images::pause(), &images::busybox(), &images::podflow()],
    );
    let deployment = "$(PODFLOW_EXPORT__COLLECTOR)";
    let mut review = deployment_review();
    let owner = &mut review["request"]["object"]["metadata"]["ownerReferences"][0];
    owner["name"] = json!(format!("{deployment}-7c9d8f6b5"));
    let mut pod = Injected::start(&node, 1, &review, |_| {});

    // The sidecar's process, as the kubelet started it.
    let pid = pod.sidecar_pid();
    let collector = format!("udp://{}", pod.collector.addr);
    assert_eq!(
        environ(pid, "PODFLOW_K8S__WORKLOAD_NAME").as_deref(),
        Some(deployment)
    );
    assert_eq!(
        environ(pid, "PODFLOW_K8S__WORKLOAD_KIND").as_deref(),
        Some("Deployment")
    );
    assert_eq!(
        environ(pid, "PODFLOW_EXPORT__COLLECTOR").as_deref(),
        Some(collector.as_str())
    );

    // What the webhook wrote for it: `$` doubled, so that the kubelet's expansion gives
    // the text back.
    let sidecar = &pod
        .run
        .pod
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .as_ref()
        .unwrap()[0];
    let written = |name: &str| {
        sidecar
            .env
            .iter()
            .flatten()
            .find(|v| v.name == name)
            .and_then(|v| v.value.clone())
    };
    assert_eq!(
        written("PODFLOW_K8S__WORKLOAD_NAME").as_deref(),
        Some("$$(PODFLOW_EXPORT__COLLECTOR)")
    );

    pod.first_answer();
    pod.collector
        .wait_for("the HTTP connection", Duration::from_secs(10), |records| {
            answered_http(records) == 1
        });
    pod.stop();
    let records: Vec<DataRecord> = pod.collector.finish().into_iter().map(|(_, r)| r).collect();
    let http: Vec<_> = test_records(&records, pod.pod_ip)
        .into_iter()
        .filter(|r| is_http(r))
        .collect();
    assert!(!http.is_empty(), "{records:#?}");
    for r in &records {
        assert_eq!(r.get_str("k8sWorkloadName"), Some(deployment), "{r:?}");
        assert_eq!(r.get_str("k8sWorkloadKind"), Some("Deployment"), "{r:?}");
        assert_eq!(r.get_str("k8sPodName"), Some(pod.name.as_str()), "{r:?}");
    }
    println!(
        "workload {deployment:?} in the sidecar's environment and in all {} records \
         ({} of HTTP connections), collector {collector}",
        records.len(),
        http.len()
    );
    let left = node.shut_down();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
