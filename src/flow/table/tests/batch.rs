//! Metering a batch at a time gives the records of metering one packet at a time.

use super::*;

/// A mix of flows: TCP both ways with FINs, UDP, ICMP, IPv6, repeated across timeouts.
fn traffic() -> Vec<(Packet, Nanos)> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..5000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 1000 + (x % 300) as u16;
        let t = i * S / 100 + (x % 7);
        let octets = 40 + (x % 1400) as u32;
        let p = match x % 5 {
            0 => c2s(octets, if x.is_multiple_of(11) { FIN } else { 0 }),
            1 => s2c(octets, if x.is_multiple_of(13) { FIN } else { 0 }),
            2 => udp((A, port), (B, 53), octets),
            3 => pkt(PROTO_ICMP, (A, 0), (B, 0x0800), octets, 0),
            _ => {
                let mut p = udp((A, port), (B, 443), octets);
                p.key.ipv6 = true;
                p.key.src |= 0xfd00 << 112;
                p.key.dst |= 0xfd00 << 112;
                p
            }
        };
        out.push((p, t));
    }
    out
}

fn sorted(mut r: Vec<FlowRecord>) -> Vec<FlowRecord> {
    r.sort_by_key(|r| {
        (
            r.start,
            r.key.src,
            r.key.dst,
            r.key.src_port,
            r.key.dst_port,
            r.key.proto,
        )
    });
    r
}

#[test]
fn a_batch_meters_as_packets_one_by_one() {
    for biflow in [true, false] {
        let one = FlowTable::new(cfg(biflow));
        let batched = FlowTable::new(cfg(biflow));
        let packets = traffic();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for chunk in packets.chunks(37) {
            for (p, t) in chunk {
                one.update(p, *t);
            }
            batched.update_batch(chunk);
            let now = chunk.last().unwrap().1;
            one.sweep(now, &mut a);
            batched.sweep(now, &mut b);
        }
        one.flush(60 * S, &mut a);
        batched.flush(60 * S, &mut b);
        assert_eq!(sorted(a), sorted(b), "biflow {biflow}");
        assert_eq!(one.stats(), batched.stats());
    }
}

#[test]
fn a_batch_on_a_full_table_keeps_the_bound_and_every_packet() {
    let t = FlowTable::new(FlowTableConfig {
        max_flows: 50,
        ..cfg(false)
    });
    let packets = traffic();
    for chunk in packets.chunks(64) {
        t.update_batch(chunk);
        assert!(t.len() <= 50);
    }
    let recs = flushed(&t, 60 * S);
    let metered: u64 = recs
        .iter()
        .map(|r| r.forward.packets + r.reverse.packets)
        .sum();
    assert_eq!(metered, packets.len() as u64);
    assert!(t.stats().evictions > 0);
}
