//! Records with network performance and application fields: the template of their groups,
//! or the base template of their family when the encoder has none for them.

use super::*;
use crate::flow::perf::TcpPerf;
use crate::flow::{FlowExt, PROTO_TCP};

/// A TCP flow of `src` and `dst` with the state of a connection seen from its SYN.
fn tcp_with_figures(src: IpAddr, dst: IpAddr) -> FlowRecord {
    let mut f = flow(src, dst, PROTO_TCP, 40000, 443);
    f.ext = Some(Box::new(FlowExt {
        tcp: Some(TcpPerf::new(true, 0)),
        app: None,
    }));
    f
}

fn template_of(enc: &mut Encoder, f: &FlowRecord) -> u16 {
    let p = pod();
    let msg = bytes(enc.records(&[record(f, &p)], 0)).remove(0);
    u16::from_be_bytes([msg[16], msg[17]])
}

#[test]
fn records_take_the_template_of_their_groups_or_their_familys_base() {
    for (addr_a, addr_b, base, with_tcp) in [
        (v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), 256, 264 + 2),
        (v6("2001:db8::1"), v6("2001:db8::2"), 257, 264 + 32 + 2),
    ] {
        let f = tcp_with_figures(addr_a, addr_b);
        assert_eq!(
            groups_of(&f),
            group::TCP,
            "no handshake seen: no handshake group"
        );
        let mut with = Encoder::new(EncoderOptions {
            npm: true,
            l7: true,
            ..opts(true, false, 1400)
        });
        assert_eq!(template_of(&mut with, &f), with_tcp);
        let mut without = Encoder::new(opts(true, false, 1400));
        assert_eq!(template_of(&mut without, &f), base);
    }
}
