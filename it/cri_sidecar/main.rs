//! The podflow sidecar exactly as the webhook injects it, run by containerd through its CRI
//! as a kubelet runs it. Needs root, containerd, runc, the CNI plugins, busybox-static,
//! tcpdump, tshark, ping and the release binary (`scripts/image.sh` makes the image from
//! it).
//!
//! Every pod is the Deployment pod of `it/fixtures/admission/deployment-pod.json` with
//! `podflow::webhook::Injector::review`'s JSON Patch applied, then what the API server and
//! the scheduler add (a name from generateName, a UID, defaults, the node). Substitutions,
//! since no registry or API server is reachable: the application image
//! `ghcr.io/example/shop-web:1.4.2` is replaced by the busybox httpd image (it serves on
//! the fixture's port 8080), and the projected service-account volume gets a placeholder
//! token and CA certificate. Each sidecar exports over UDP to a collector on its node.
//!
//! One test per subject, each with its own node (the two test threads run two at a
//! time): [`profiles`], [`no_capture`], [`shutdown`], [`expansion`].

#[path = "../common/mod.rs"]
mod common;
#[path = "../cri/mod.rs"]
mod cri;
#[path = "../common/truth.rs"]
mod truth;

mod pod;
mod process;
mod traffic;

mod expansion;
mod no_capture;
mod profiles;
mod shutdown;
