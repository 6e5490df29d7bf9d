//! One cluster-wide view for the mediator: the pods (with the times they held their
//! addresses, since pod IPs are recycled), Services, EndpointSlices and nodes, and what it
//! says of each end of a record and of the path between them (the traffic class). Pure
//! tables here; the watches and files that feed them live beside them.

pub mod api;
pub mod file;
mod nodes;
mod pods;
mod services;
mod tenure;
mod view;
pub mod watch;

pub use nodes::{Cidr, NodeFacts, NodeUpdate, Nodes};
pub use pods::{ListMark, PodFacts, PodId, PodUpdate, Pods};
pub use services::{ServiceFacts, ServiceHit, ServicePort, ServiceUpdate, Services, SliceUpdate};
pub use tenure::{Millis, Tenure, Tenures, OPEN};
pub use view::{traffic_class, ClusterView, End, Endpoint, TrafficClass};
