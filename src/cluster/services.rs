//! The cluster's Services as addresses and ports: a ClusterIP or LoadBalancer ingress IP
//! and port, a node port, and the pod address and port an EndpointSlice of the Service
//! holds, each names the Service and the port's name. Pure; the current state only (a
//! Service's addresses are not recycled within minutes as pods' are).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::tenure::Millis;

/// A Service named by an end of a record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceFacts {
    pub name: String,
    pub namespace: String,
}

/// One port of a Service (or of an EndpointSlice): its name (may be empty), IP protocol
/// number and port; `node_port` where the Service has one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Arc<str>,
    pub protocol: u8,
    pub port: u16,
    pub node_port: Option<u16>,
}

/// A Service as the API server tells it, trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceUpdate {
    pub uid: String,
    pub facts: ServiceFacts,
    /// `spec.clusterIPs` (none for a headless Service) and the LoadBalancer's ingress IPs.
    pub addresses: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
}

/// An EndpointSlice: the Service it belongs to (its `kubernetes.io/service-name` label),
/// its ports and the addresses of its endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceUpdate {
    pub uid: String,
    pub service: ServiceFacts,
    pub ports: Vec<ServicePort>,
    pub addresses: Vec<IpAddr>,
}

/// A Service and the name of the port an end used (empty for an unnamed port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceHit {
    pub service: Arc<ServiceFacts>,
    pub port_name: Arc<str>,
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Services by address and port, and by the endpoints of their slices.
#[derive(Debug, Default)]
pub struct Services {
    services: Map<String, (Arc<ServiceFacts>, ServiceUpdate, u64)>,
    by_address: Map<IpAddr, String>,
    by_node_port: Map<(u8, u16), String>,
    slices: Map<String, (SliceUpdate, u64)>,
    by_endpoint: Map<(IpAddr, u8, u16), ServiceHit>,
    generation: u64,
    /// The name of a port the Service does not list, shared.
    unnamed: Arc<str>,
}

impl Services {
    pub fn apply(&mut self, update: ServiceUpdate) {
        self.delete(&update.uid);
        let uid = update.uid.clone();
        for a in &update.addresses {
            self.by_address.insert(*a, uid.clone());
        }
        for p in &update.ports {
            if let Some(node_port) = p.node_port {
                self.by_node_port
                    .insert((p.protocol, node_port), uid.clone());
            }
        }
        let facts = Arc::new(update.facts.clone());
        self.services.insert(uid, (facts, update, self.generation));
    }

    pub fn delete(&mut self, uid: &str) {
        if let Some((_, old, _)) = self.services.remove(uid) {
            self.by_address.retain(|_, u| u != uid);
            self.by_node_port.retain(|_, u| u != uid);
            drop(old);
        }
    }

    pub fn apply_slice(&mut self, slice: SliceUpdate) {
        self.delete_slice(&slice.uid);
        let service = Arc::new(slice.service.clone());
        for port in &slice.ports {
            let port_name = port.name.clone();
            for a in &slice.addresses {
                let hit = ServiceHit {
                    service: service.clone(),
                    port_name: port_name.clone(),
                };
                self.by_endpoint.insert((*a, port.protocol, port.port), hit);
            }
        }
        self.slices
            .insert(slice.uid.clone(), (slice, self.generation));
    }

    pub fn delete_slice(&mut self, uid: &str) {
        if let Some((old, _)) = self.slices.remove(uid) {
            for port in &old.ports {
                for a in &old.addresses {
                    let key = (*a, port.protocol, port.port);
                    // Another slice may have named the same endpoint since.
                    if self
                        .by_endpoint
                        .get(&key)
                        .is_some_and(|h| *h.service == old.service)
                    {
                        self.by_endpoint.remove(&key);
                    }
                }
            }
        }
    }

    /// The Service whose ClusterIP or ingress IP is `addr`, with the name of `port`.
    pub fn by_address(&self, addr: &IpAddr, protocol: u8, port: u16) -> Option<ServiceHit> {
        let uid = self.by_address.get(addr)?;
        self.hit(uid, |p| p.protocol == protocol && p.port == port)
    }

    /// The Service with node port `port`.
    pub fn by_node_port(&self, protocol: u8, port: u16) -> Option<ServiceHit> {
        let uid = self.by_node_port.get(&(protocol, port))?;
        self.hit(uid, |p| p.protocol == protocol && p.node_port == Some(port))
    }

    fn hit(&self, uid: &str, port: impl Fn(&ServicePort) -> bool) -> Option<ServiceHit> {
        let (facts, update, _) = self.services.get(uid)?;
        let port_name = match update.ports.iter().find(|p| port(p)) {
            Some(p) => p.name.clone(),
            None => self.unnamed.clone(),
        };
        Some(ServiceHit {
            service: facts.clone(),
            port_name,
        })
    }

    /// The Service whose EndpointSlices hold `addr` with this port: a pod serving it.
    pub fn by_endpoint(&self, addr: &IpAddr, protocol: u8, port: u16) -> Option<&ServiceHit> {
        self.by_endpoint.get(&(*addr, protocol, port))
    }

    /// A full list of Services (and then of slices) starts; see [`Services::list_done`].
    pub fn list_started(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// The list `mark` started is complete: what it did not name is deleted. `slices`
    /// says which kind was listed. How many were deleted.
    pub fn list_done(&mut self, mark: u64, slices: bool, _now: Millis) -> usize {
        let stale: Vec<String> = if slices {
            let seen = |(_, g): &(SliceUpdate, u64)| *g >= mark;
            self.slices
                .iter()
                .filter(|(_, v)| !seen(v))
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            self.services
                .iter()
                .filter(|(_, (_, _, g))| *g < mark)
                .map(|(k, _)| k.clone())
                .collect()
        };
        for uid in &stale {
            if slices {
                self.delete_slice(uid);
            } else {
                self.delete(uid);
            }
        }
        stale.len()
    }

    /// Services and EndpointSlices held.
    pub fn counts(&self) -> (usize, usize) {
        (self.services.len(), self.slices.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn port(name: &str, port: u16, node_port: Option<u16>) -> ServicePort {
        ServicePort {
            name: name.into(),
            protocol: 6,
            port,
            node_port,
        }
    }

    fn web() -> ServiceUpdate {
        ServiceUpdate {
            uid: "svc-1".into(),
            facts: ServiceFacts {
                name: "web".into(),
                namespace: "shop".into(),
            },
            addresses: vec![ip("10.96.0.20"), ip("203.0.113.9")],
            ports: vec![port("http", 80, Some(30080)), port("", 9090, None)],
        }
    }

    #[test]
    fn a_cluster_ip_an_ingress_ip_and_a_node_port_name_the_service_and_its_port() {
        let mut s = Services::default();
        s.apply(web());
        let hit = s.by_address(&ip("10.96.0.20"), 6, 80).unwrap();
        assert_eq!(
            (hit.service.name.as_str(), &*hit.port_name),
            ("web", "http")
        );
        let hit = s.by_address(&ip("203.0.113.9"), 6, 9090).unwrap();
        assert_eq!(&*hit.port_name, "", "an unnamed port");
        assert_eq!(
            &*s.by_address(&ip("10.96.0.20"), 17, 80).unwrap().port_name,
            ""
        );
        assert_eq!(&*s.by_node_port(6, 30080).unwrap().port_name, "http");
        assert!(s.by_node_port(17, 30080).is_none());
        s.delete("svc-1");
        assert!(s.by_address(&ip("10.96.0.20"), 6, 80).is_none());
        assert!(s.by_node_port(6, 30080).is_none());
    }

    #[test]
    fn the_endpoints_of_a_slice_name_their_service_also_when_it_is_headless() {
        let mut s = Services::default();
        let slice = SliceUpdate {
            uid: "slice-1".into(),
            service: ServiceFacts {
                name: "db".into(),
                namespace: "shop".into(),
            },
            ports: vec![port("pg", 5432, None)],
            addresses: vec![ip("10.1.0.7"), ip("10.1.0.8")],
        };
        s.apply_slice(slice.clone());
        let hit = s.by_endpoint(&ip("10.1.0.8"), 6, 5432).unwrap();
        assert_eq!((hit.service.name.as_str(), &*hit.port_name), ("db", "pg"));
        assert!(s.by_endpoint(&ip("10.1.0.8"), 6, 5433).is_none());
        // The pod leaves the slice.
        s.apply_slice(SliceUpdate {
            addresses: vec![ip("10.1.0.7")],
            ..slice
        });
        assert!(s.by_endpoint(&ip("10.1.0.8"), 6, 5432).is_none());
        assert!(s.by_endpoint(&ip("10.1.0.7"), 6, 5432).is_some());
        let mark = s.list_started();
        assert_eq!(s.list_done(mark, true, 0), 1);
        assert!(s.by_endpoint(&ip("10.1.0.7"), 6, 5432).is_none());
        assert_eq!(s.counts(), (0, 0));
    }
}
