//! Pods under a real container runtime: containerd through its CRI, as a kubelet drives it.
//! Needs root.

mod cri;

use cri::images;
use cri::node::Node;

#[test]
fn smoke_root() {
    let node = Node::start(1, &[&images::pause(), &images::busybox()]);
    println!("{:?}", node.cri().version().unwrap());
    let left = node.shut_down();
    assert!(left.is_empty(), "{left:#?}");
}
