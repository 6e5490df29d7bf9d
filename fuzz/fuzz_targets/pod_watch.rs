//! The pod index fed by the API server: each line is what a list or a watch answers,
//! turned into the watcher's events as kube's watcher turns them. A PodList (a list
//! response) becomes `Init`, one `InitApply` per pod and `InitDone`; a watch event line
//! becomes `Apply` (ADDED, MODIFIED), `Delete` (DELETED), nothing (BOOKMARK) or a failed
//! watch (ERROR); any other line is a watch stream that broke. It must never panic, and
//! after every line each address the index answers for is one its pod lists.
#![no_main]

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use kube::core::{ObjectList, WatchEvent};
use kube::runtime::watcher::{Error, Event};
use libfuzzer_sys::fuzz_target;
use podflow::metadata::{PodWatch, SharedIndex};

/// The addresses a pod lists, as the index reads them.
fn addresses(pod: &Pod) -> Vec<IpAddr> {
    let status = pod.status.iter();
    let listed = status
        .clone()
        .flat_map(|s| s.pod_ips.iter().flatten().map(|p| &p.ip));
    let single = status.flat_map(|s| s.pod_ip.iter());
    listed
        .chain(single)
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let index = SharedIndex::default();
    let mut watch = PodWatch::new(index.clone());
    let mut seen: Vec<IpAddr> = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(list) = serde_json::from_slice::<ObjectList<Pod>>(line) {
            watch.handle(Event::Init);
            for pod in list.items {
                seen.extend(addresses(&pod));
                watch.handle(Event::InitApply(pod));
            }
            watch.handle(Event::InitDone);
        } else {
            match serde_json::from_slice::<WatchEvent<Pod>>(line) {
                Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod)) => {
                    seen.extend(addresses(&pod));
                    watch.handle(Event::Apply(pod));
                }
                Ok(WatchEvent::Deleted(pod)) => watch.handle(Event::Delete(pod)),
                Ok(WatchEvent::Bookmark(_)) => {}
                Ok(WatchEvent::Error(status)) => watch.failed(&Error::WatchError(status)),
                Err(e) => watch.failed(&Error::WatchFailed(kube::Error::SerdeError(e))),
            }
        }
        let index = index.read().unwrap();
        assert_eq!(index.names().len(), index.len());
        for ip in &seen {
            if let Some(holder) = index.by_ip(ip) {
                assert!(
                    holder.pod.ips.contains(ip),
                    "{ip} given to a pod without it"
                );
                assert!(!holder.pod.host_network && !holder.pod.finished);
            }
        }
    }
});
