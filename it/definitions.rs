//! The element definitions shipped for collectors (config/ipfix/) say exactly what the
//! encoder sends: every podflow element (Kubernetes identity, network performance,
//! application identity), with its id, name and type, and nothing else.

mod common;

use common::root;
use podflow::ipfix::{Ie, Registry};

fn kubernetes_elements() -> Vec<(u16, &'static str, &'static str)> {
    Ie::ALL
        .into_iter()
        .map(|ie| ie.element())
        .filter(|e| e.registry == Registry::Kubernetes)
        .map(|e| (e.id, e.name, e.data_type.name()))
        .collect()
}

#[test]
fn python_specs_match_the_encoder() {
    let text = std::fs::read_to_string(root().join("config/ipfix/python-ipfix.specs")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    let mut expected: Vec<String> = kubernetes_elements()
        .into_iter()
        .map(|(id, name, ty)| {
            let size = match ty {
                "string" | "octetArray" => "65535",
                "unsigned8" => "1",
                "unsigned16" => "2",
                "unsigned32" | "ipv4Address" => "4",
                "unsigned64" => "8",
                "ipv6Address" => "16",
                other => panic!("no size for {other}"),
            };
            format!("{name}(32473/{id})<{ty}>[{size}]")
        })
        .collect();
    lines.sort();
    expected.sort();
    assert_eq!(lines, expected);
}

#[test]
fn libfds_xml_matches_the_encoder() {
    let xml = std::fs::read_to_string(root().join("config/ipfix/podflow-elements.xml")).unwrap();
    assert!(xml.contains("<pen>32473</pen>"));
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    let flat = squeeze(&xml);
    let elements = kubernetes_elements();
    assert_eq!(flat.matches("<element>").count(), elements.len());
    for (id, name, ty) in elements {
        let want = format!("<id>{id}</id><name>{name}</name><dataType>{ty}</dataType>");
        assert!(flat.contains(&want), "{want} missing from the XML");
    }
}
