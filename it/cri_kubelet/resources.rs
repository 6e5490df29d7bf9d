//! Quantities, CPU shares and quota, QoS classes and OOM scores.

use super::*;

#[test]
fn quantities_parse_exactly() {
    let q = |t: &str| Quantity::parse(t).unwrap();
    assert_eq!(q("100m").milli(), 100);
    assert_eq!(q("1.5").milli(), 1500);
    assert_eq!(q("0.1").milli(), 100);
    assert_eq!(q("2").milli(), 2000);
    assert_eq!(q("64Mi").value(), 64 << 20);
    assert_eq!(q("1Gi").value(), 1 << 30);
    assert_eq!(q("1.5Ki").value(), 1536);
    assert_eq!(q("2k").value(), 2000);
    assert_eq!(q("1M").value(), 1_000_000);
    assert_eq!(q("1e3").value(), 1000);
    assert_eq!(q("15E-1").milli(), 1500);
    assert_eq!(q("1n").value(), 1, "values round up");
    assert_eq!(q("1n").milli(), 1);
    assert_eq!(q("250u").milli(), 1);
    assert_eq!(q("+5").value(), 5);
    assert_eq!(q("-5").value(), -5);
    for bad in ["", "abc", "1.2.3", "5X", "Mi", "1e"] {
        assert!(Quantity::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn cpu_shares_and_quota() {
    assert_eq!(milli_cpu_to_shares(0), 2);
    assert_eq!(milli_cpu_to_shares(1), 2);
    assert_eq!(milli_cpu_to_shares(250), 256);
    assert_eq!(milli_cpu_to_shares(1000), 1024);
    assert_eq!(milli_cpu_to_shares(1_000_000), 262_144);
    assert_eq!(milli_cpu_to_quota(0, 100_000), 0);
    assert_eq!(milli_cpu_to_quota(1, 100_000), 1000);
    assert_eq!(milli_cpu_to_quota(500, 100_000), 50_000);
}

fn resources_pod(web: serde_json::Value, sidecar: serde_json::Value) -> Pod {
    pod(json!({
        "metadata": {"name": "p", "uid": "u"},
        "spec": {
            "initContainers": [{"name": "side", "restartPolicy": "Always", "resources": sidecar}],
            "containers": [{"name": "web", "resources": web}]
        }
    }))
}

#[test]
fn qos_classes_and_oom_scores() {
    let both = json!({"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}});
    let g = resources_pod(both.clone(), both.clone());
    assert_eq!(qos(&g).unwrap(), Qos::Guaranteed);
    assert_eq!(
        oom_score_adj(&g, &container(&g, "web"), &node()).unwrap(),
        -997
    );
    let none = resources_pod(json!({}), json!({}));
    assert_eq!(qos(&none).unwrap(), Qos::BestEffort);
    assert_eq!(
        oom_score_adj(&none, &container(&none, "web"), &node()).unwrap(),
        1000
    );
    // Burstable: 1000 - 1000 * request / capacity (1 GiB here).
    let b = resources_pod(
        json!({"requests": {"memory": "256Mi"}}),
        json!({"requests": {"memory": "512Mi"}}),
    );
    assert_eq!(qos(&b).unwrap(), Qos::Burstable);
    assert_eq!(
        oom_score_adj(&b, &container(&b, "web"), &node()).unwrap(),
        750
    );
    assert_eq!(
        oom_score_adj(&b, &container(&b, "side"), &node()).unwrap(),
        500
    );
    // A sidecar is kept no higher than the smallest regular container.
    let s = resources_pod(json!({"requests": {"memory": "512Mi"}}), json!({}));
    assert_eq!(
        oom_score_adj(&s, &container(&s, "side"), &node()).unwrap(),
        500
    );
    // Limits that do not equal requests: Burstable.
    let l = resources_pod(
        json!({"requests": {"cpu": "1", "memory": "1Mi"}, "limits": {"cpu": "2", "memory": "1Mi"}}),
        both,
    );
    assert_eq!(qos(&l).unwrap(), Qos::Burstable);
    assert_eq!(
        oom_score_adj(&l, &container(&l, "web"), &node()).unwrap(),
        999
    );
}
