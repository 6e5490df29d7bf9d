//! The host ends of pod veth pairs: interfaces of the node whose traffic is already
//! captured inside a pod's namespace. Pure.

use std::collections::HashSet;

use crate::capture::live::netlink::LinkInfo;

/// The host-side interface indexes of the veth pairs whose other end is one of
/// `pod_links` (the interfaces of the pod namespaces): a pod's `eth0` names its peer's
/// index (`IFLA_LINK`), and that peer names the pod's back; both say their peer is in
/// another namespace. Indexes are per namespace, so both directions must agree.
pub fn pod_veth_host_ends<'a>(
    pod_links: impl Iterator<Item = &'a LinkInfo>,
    host_links: &[LinkInfo],
) -> HashSet<u32> {
    let pairs: HashSet<(u32, u32)> = pod_links
        .filter(|l| l.link_elsewhere)
        .filter_map(|l| Some((l.index, l.link?)))
        .collect();
    host_links
        .iter()
        .filter(|l| l.link_elsewhere && l.link.is_some_and(|peer| pairs.contains(&(peer, l.index))))
        .map(|l| l.index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, index: u32, link: Option<u32>, elsewhere: bool) -> LinkInfo {
        LinkInfo {
            index,
            name: name.into(),
            up: true,
            link,
            link_elsewhere: elsewhere,
            kind: Some("veth".into()),
            ..LinkInfo::default()
        }
    }

    #[test]
    fn host_ends_of_pod_veths_are_told_by_both_ends() {
        // Two pods, both with eth0 = index 2, peers at host indexes 7 and 8.
        let pods = [
            link("eth0", 2, Some(7), true),
            link("eth0", 2, Some(8), true),
        ];
        let host = [
            link("eth0", 2, None, false),
            link("vethp1", 7, Some(2), true),
            link("vethp2", 8, Some(2), true),
            // A veth whose peer is elsewhere but no captured pod's: kept.
            link("vethx", 9, Some(2), true),
            // A veth pair inside the host: kept.
            link("cilium_host", 10, Some(11), false),
        ];
        let skip = pod_veth_host_ends(pods.iter(), &host);
        assert_eq!(skip, HashSet::from([7, 8]));
        assert!(pod_veth_host_ends([].iter(), &host).is_empty());
    }
}
