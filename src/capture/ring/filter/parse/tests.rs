use super::*;

fn t(test: Test) -> Expr {
    Expr::Test(test)
}

#[test]
fn primitives_and_qualifiers() {
    assert_eq!(parse("tcp").unwrap(), t(Test::Proto(Proto::Tcp)));
    assert_eq!(
        parse("src host 10.0.0.1").unwrap(),
        t(Test::Net {
            proto: None,
            dir: Dir::Src,
            addr: "10.0.0.1".parse().unwrap(),
            prefix: 32
        })
    );
    assert_eq!(
        parse("udp dst portrange 2000-1000").unwrap(),
        t(Test::Port {
            proto: Some(Proto::Udp),
            dir: Dir::Dst,
            lo: 1000,
            hi: 2000
        })
    );
    assert_eq!(
        parse("net 10.1.0.0 mask 255.255.0.0").unwrap(),
        parse("net 10.1.0.0/16").unwrap()
    );
    assert_eq!(
        parse("ip6 proto 17").unwrap(),
        t(Test::IpProto {
            v6: Some(true),
            proto: 17
        })
    );
    assert_eq!(
        parse("src or dst port 53").unwrap(),
        parse("port 53").unwrap()
    );
}

#[test]
fn precedence_and_repeated_qualifiers() {
    let p = |n| {
        t(Test::Port {
            proto: Some(Proto::Tcp),
            dir: Dir::Either,
            lo: n,
            hi: n,
        })
    };
    assert_eq!(
        parse("tcp port 80 or 443").unwrap(),
        Expr::Or(Box::new(p(80)), Box::new(p(443)))
    );
    // not > and > or.
    let e = parse("not tcp and udp or icmp").unwrap();
    let want = Expr::Or(
        Box::new(Expr::And(
            Box::new(Expr::Not(Box::new(t(Test::Proto(Proto::Tcp))))),
            Box::new(t(Test::Proto(Proto::Udp))),
        )),
        Box::new(t(Test::Proto(Proto::Icmp))),
    );
    assert_eq!(e, want);
    assert_eq!(
        parse("!(tcp||udp)&&icmp").unwrap(),
        parse("not (tcp or udp) and icmp").unwrap()
    );
}

#[test]
fn refusals_say_why() {
    for (text, why) in [
        ("", "empty"),
        ("port", "value is missing"),
        ("port http", "not looked up"),
        ("host example.com", "not looked up"),
        ("net 10.0.0.1/8", "bits set past"),
        ("net 10.0.0.0/40", "too long"),
        ("vlan 100", "not supported"),
        ("tcp and", "ends too early"),
        ("(tcp", "missing )"),
        ("tcp udp", "unexpected"),
        ("80", "without host, net or port"),
        ("icmp port 1", "ports need"),
        ("tcp host 10.0.0.1", "host and net take"),
        ("tcp & udp", "doubled"),
    ] {
        let err = parse(text).unwrap_err().0;
        assert!(err.contains(why), "{text:?}: {err}");
    }
}
