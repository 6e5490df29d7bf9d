//! The frame decoder: one captured frame of any link type podflow reads. The first byte
//! picks the link type, the rest is the frame. It must never panic, and what it returns
//! must be a packet the flow table can take.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow::capture::{decode, LinkType};
use podflow::flow::PROTO_TCP;

/// The link types of `LinkType::from_pcap`, by the pcap number that names each.
const LINKTYPES: [u32; 8] = [0, 1, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let linktype = LINKTYPES[usize::from(pick) % LINKTYPES.len()];
    let link = LinkType::from_pcap(linktype).expect("a link type podflow decodes");
    if let Ok(packet) = decode(link, frame) {
        let key = packet.key;
        if !key.ipv6 {
            assert!(key.src <= u128::from(u32::MAX) && key.dst <= u128::from(u32::MAX));
        }
        assert!(key.proto == PROTO_TCP || packet.tcp_flags == 0);
        assert!(packet.tcp_flags <= 0x1ff);
        assert!(key.vlan <= 0x0fff);
    }
});
