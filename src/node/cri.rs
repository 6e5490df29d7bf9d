//! The container runtime's CRI (`runtime.v1`): messages, clients and servers generated at
//! build time from `cri.proto` (build.rs), for node mode and for the tests that drive a
//! runtime as the kubelet does.

// What prost and tonic generate is theirs to style.
#![allow(clippy::all, clippy::pedantic)]

tonic::include_proto!("runtime.v1");
