//! The PodList file of `k8s.source = file:PATH` (what `kubectl get pods -A -o json`
//! prints), read into the pod index. It must never panic, and the index must hold what
//! the list says: every address it answers for is one its pod lists, and every address
//! of a running pod is answered for. A pod listed twice (the same uid, or the same
//! namespace and name without one) is the later of the two, as in a watch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::metadata::{parse_pod_list, IdentityRules, PodIndex, TrimmedPod};

/// What the index knows a pod by: its uid, else `namespace/name`.
fn key(pod: &TrimmedPod) -> String {
    if pod.uid.is_empty() {
        format!("{}/{}", pod.namespace, pod.name)
    } else {
        pod.uid.clone()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pods) = parse_pod_list(text) else {
        return;
    };
    let index = PodIndex::from_pods(IdentityRules::default(), pods.clone());
    assert!(index.len() <= pods.len());
    assert_eq!(index.names().len(), index.len());
    for (i, pod) in pods.iter().enumerate() {
        let replaced = pods[i + 1..].iter().any(|later| key(later) == key(pod));
        for ip in &pod.ips {
            let claims = !pod.host_network && !pod.finished && !replaced;
            assert!(
                !claims || index.by_ip(ip).is_some(),
                "{ip} claimed by nobody"
            );
            if let Some(holder) = index.by_ip(ip) {
                assert!(
                    holder.pod.ips.contains(ip),
                    "{ip} given to a pod without it"
                );
                assert!(!holder.pod.host_network && !holder.pod.finished);
                assert_eq!(index.peer(ip), Some(&holder.peer));
            }
        }
    }
    assert!(index.summary().addresses <= pods.iter().map(|p| p.ips.len()).sum::<usize>());
});
