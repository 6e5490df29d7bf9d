//! A real container runtime for the tests: containerd started by the test ([`node`], torn
//! down by [`cleanup`]), a CRI client speaking `runtime.v1` as the kubelet does
//! ([`client`]), the kubelet's translation of a Kubernetes pod into CRI requests
//! ([`kubelet`], pure), the kubelet's sync of one pod through them ([`runner`]) with its
//! startup probes ([`probe`]), images from local tarballs ([`images`]), a UDP collector on
//! the node ([`collector`]) and tcpdump on the node's interfaces ([`wire`]).
#![allow(dead_code)]

pub mod cleanup;
pub mod client;
pub mod collector;
pub mod images;
pub mod kubelet;
pub mod node;
pub mod probe;
pub mod runner;
pub mod wire;
