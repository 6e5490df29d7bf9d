//! What one pod namespace may cost: a bound on the interfaces captured in it. A process that
//! owns its network namespace can create interfaces at will (dummy, veth, macvlan), and each
//! captured one costs a packet socket and a ring. Pure.
#![forbid(unsafe_code)]

use crate::capture::live::Link;

/// Leaves out of the automatic selection every interface past the first `max` that it
/// would capture (up, not loopback, not skipped), in the order of `links` (the kernel's
/// interface index: the pod's own `eth0` comes before anything made later). Returns how
/// many were left out. (Configured interface names are bounded by their own list.)
pub fn cap_interfaces(links: &mut [Link], max: usize) -> usize {
    let mut kept = 0;
    let mut left_out = 0;
    for link in links.iter_mut() {
        if !link.up || link.loopback || link.skip {
            continue;
        }
        if kept < max {
            kept += 1;
        } else {
            link.skip = true;
            left_out += 1;
        }
    }
    left_out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, index: u32, up: bool) -> Link {
        Link {
            name: name.into(),
            index,
            up,
            loopback: name == "lo",
            skip: false,
        }
    }

    #[test]
    fn interfaces_past_the_cap_are_left_out_in_index_order() {
        let mut links = vec![
            link("lo", 1, true),
            link("eth0", 2, true),
            link("down0", 3, false),
            link("dummy0", 4, true),
            link("dummy1", 5, true),
        ];
        assert_eq!(cap_interfaces(&mut links, 2), 1);
        let skipped: Vec<&str> = links
            .iter()
            .filter(|l| l.skip)
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(skipped, ["dummy1"]);
        // Under the cap: nothing changes.
        let mut links = vec![link("eth0", 2, true)];
        assert_eq!(cap_interfaces(&mut links, 8), 0);
        assert!(!links[0].skip);
    }
}
