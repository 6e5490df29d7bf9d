use super::*;
use crate::cluster::{NodeFacts, NodeUpdate, PodFacts, PodUpdate};
use crate::ipfix::relay::{template_record, Layout};
use crate::ipfix::{Session, Template, Value, DEFAULT_ENTERPRISE_NUMBER as PEN};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn view() -> ClusterView {
    let mut v = ClusterView::default();
    for (name, zone, addr) in [("n1", "z-a", "192.168.0.1"), ("n2", "z-b", "192.168.0.2")] {
        v.nodes.apply(NodeUpdate {
            facts: NodeFacts {
                name: name.into(),
                zone: zone.into(),
                region: "r".into(),
            },
            addresses: vec![ip(addr)],
            pod_ranges: Vec::new(),
        });
    }
    for (name, node, addr) in [("web-1", "n1", "10.1.0.5"), ("db-0", "n2", "10.1.0.9")] {
        v.pods.apply(
            PodUpdate {
                facts: PodFacts {
                    name: name.into(),
                    namespace: "shop".into(),
                    uid: format!("uid-{name}"),
                    workload_name: name.split('-').next().unwrap().into(),
                    workload_kind: "Deployment".into(),
                    node: node.into(),
                    labels_json: format!("{{\"app\":\"{name}\"}}"),
                    host_network: false,
                },
                ips: vec![ip(addr)],
                since: Some(0),
            },
            0,
        );
    }
    v
}

/// A message of one template (the input's fields and `shape`'s) and one record.
fn message(input: &Template, shape: Shape, record: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    template_record(400, 0, &input.fields, &shape.fields(PEN), &mut t);
    let mut msg = vec![0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for (set, body) in [(2u16, &t[..]), (400, record)] {
        msg.extend_from_slice(&set.to_be_bytes());
        msg.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        msg.extend_from_slice(body);
    }
    let len = msg.len() as u16;
    msg[2..4].copy_from_slice(&len.to_be_bytes());
    msg
}

fn input() -> Template {
    let f = |id, length| TemplateField {
        spec: FieldSpec { pen: 0, id },
        length,
    };
    Template {
        id: 256,
        scope_fields: 0,
        fields: vec![f(8, 4), f(12, 4), f(7, 2), f(11, 2), f(4, 1), f(153, 8)],
    }
}

#[test]
fn a_record_comes_out_with_its_fields_then_both_ends_named_and_the_class() {
    let mut record = vec![10, 1, 0, 5, 10, 1, 0, 9];
    record.extend_from_slice(&40000u16.to_be_bytes());
    record.extend_from_slice(&5432u16.to_be_bytes());
    record.push(6);
    record.extend_from_slice(&5_000u64.to_be_bytes());
    let layout = Layout::new(input(), PEN);
    let keys = layout.records(&record).next().unwrap().unwrap().keys;
    let named = name(&view(), &keys, 0);
    assert_eq!(named.class, Some(TrafficClass::CrossZone));
    let exporter = Exporter {
        address: ip("10.1.0.5"),
        domain: 7,
    };
    let shape = Shape::Data {
        ipv6_exporter: false,
    };
    let mut out = record.clone();
    append(&mut out, shape, exporter, &named);
    let mut session = Session::new(PEN);
    let m = session.decode(&message(&input(), shape, &out)).unwrap();
    let r = &m.records[0];
    let get = |name: &str| {
        r.fields
            .iter()
            .find(|(spec, _)| session.element_name(1, *spec) == Some(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let text = |name: &str| match get(name) {
        Value::String(s) => s,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(get("destinationTransportPort"), Value::Unsigned(5432));
    assert_eq!(
        get("originalExporterIPv4Address"),
        Value::Ip(ip("10.1.0.5"))
    );
    assert_eq!(get("originalObservationDomainId"), Value::Unsigned(7));
    assert_eq!(text("k8sSourcePodName"), "web-1");
    assert_eq!(text("k8sSourceWorkloadName"), "web");
    assert_eq!(text("k8sSourcePodLabels"), "{\"app\":\"web-1\"}");
    assert_eq!(text("k8sSourceZone"), "z-a");
    assert_eq!(text("k8sDestinationPodName"), "db-0");
    assert_eq!(text("k8sDestinationNodeName"), "n2");
    assert_eq!(text("k8sDestinationServiceName"), "");
    assert_eq!(
        get("k8sTrafficClass"),
        Value::Unsigned(TrafficClass::CrossZone as u64)
    );
}

#[test]
fn options_records_get_the_exporter_only_and_long_values_the_long_length_form() {
    let shape = Shape::Options {
        ipv6_exporter: true,
    };
    assert_eq!(shape.elements().len(), 2);
    let mut out = Vec::new();
    let exporter = Exporter {
        address: ip("fd00::5"),
        domain: 1,
    };
    append(&mut out, shape, exporter, &Named::default());
    assert_eq!(out.len(), 16 + 4);
    let mut long = Vec::new();
    put_octets(&mut long, &[b'x'; 300]);
    assert_eq!(&long[..3], &[255, 1, 44]);
    assert_eq!(long.len(), 303);
    assert!(Shape::AsIs.fields(PEN).is_empty());
}
