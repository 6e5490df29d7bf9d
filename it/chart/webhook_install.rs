//! The webhook as the chart installs it: the defaults, the collector and match values, the
//! sidecar's security profile and the namespaces left out for Pod Security.

use super::*;

fn sidecar_of(deployment: &Value, native: bool) -> &Value {
    let list = if native {
        "initContainers"
    } else {
        "containers"
    };
    deployment["spec"]["template"]["spec"][list]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "podflow")
        .unwrap_or_else(|| panic!("no podflow container in {list}"))
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?
        .get("value")?
        .as_str()
}

fn namespace_expressions(hook: &Value) -> &Vec<Value> {
    hook["namespaceSelector"]["matchExpressions"]
        .as_array()
        .unwrap()
}

/// The namespaceSelector entry that leaves out namespaces enforcing these levels.
fn pod_security_exclusion(levels: &[&str]) -> Value {
    json!({"key": "pod-security.kubernetes.io/enforce", "operator": "NotIn", "values": levels})
}

#[test]
fn defaults() {
    let objects = rendered(&["defaults.yaml"]);
    assert_eq!(
        kinds(&objects),
        BTreeSet::from([
            "ConfigMap",
            "Deployment",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount"
        ]),
        "no RBAC, no custom kinds by default"
    );
    for o in &objects {
        if o["kind"] != "MutatingWebhookConfiguration" {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{}", o["kind"]);
        }
    }

    // The webhook configuration.
    let hook = webhook(&objects);
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(hook["reinvocationPolicy"], "IfNeeded");
    assert_eq!(hook["timeoutSeconds"], 5);
    assert_eq!(
        hook["rules"],
        json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                "resources": ["pods"], "scope": "Namespaced"}])
    );
    assert_eq!(
        hook["clientConfig"]["service"],
        json!({"name": FULLNAME, "namespace": NAMESPACE, "path": "/mutate", "port": 443})
    );
    let expressions = namespace_expressions(hook);
    assert!(
        expressions.contains(&json!({"key": "kubernetes.io/metadata.name",
        "operator": "NotIn", "values": ["kube-system", NAMESPACE]}))
    );
    assert!(expressions.contains(
        &json!({"key": "podflow.io/inject", "operator": "NotIn", "values": ["disabled"]})
    ));
    assert!(expressions.contains(&pod_security_exclusion(&["baseline", "restricted"])));
    assert_eq!(expressions.len(), 3);
    assert!(hook["namespaceSelector"].get("matchLabels").is_none());

    // auto TLS: the caBundle is the Secret's CA, and the certificate is for the Service.
    let secret = named(&objects, "Secret", &format!("{FULLNAME}-tls"));
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(tls_secret_name(&objects), format!("{FULLNAME}-tls"));
    let ca = b64_text(&hook["clientConfig"]["caBundle"]);
    assert!(
        ca.starts_with("-----BEGIN CERTIFICATE-----"),
        "caBundle: {ca}"
    );
    assert_eq!(b64_text(&secret["data"]["ca.crt"]), ca);
    assert!(b64_text(&secret["data"]["tls.key"]).contains("PRIVATE KEY"));
    assert_cert_serves(&ca, &b64_text(&secret["data"]["tls.crt"]));
    assert!(one(&objects, "MutatingWebhookConfiguration")["metadata"]
        .get("annotations")
        .is_none());

    // The Deployment.
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["serviceAccountName"], FULLNAME);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pss::levels(pod),
        [Level::Baseline, Level::Restricted],
        "the webhook pods meet restricted: {:?}",
        pss::violations(pod, Level::Restricted)
    );
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert!(pod["topologySpreadConstraints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["topologyKey"] == "kubernetes.io/hostname"
            && c["labelSelector"]["matchLabels"] == *selector));
    let c = container(&objects);
    assert_eq!(c["image"], "ghcr.io/podflow/podflow:0.1.0");
    assert_eq!(
        c["args"],
        json!(["--mode", "webhook", "--config", "/etc/podflow/podflow.yaml"])
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let ports = c["ports"].as_array().unwrap();
    assert!(ports.contains(&json!({"name": "metrics", "containerPort": 9477, "protocol": "TCP"})));
    assert!(ports.contains(&json!({"name": "https", "containerPort": 8443, "protocol": "TCP"})));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["port"], "https",
            "through the HTTPS listener"
        );
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS");
    }
    assert!(c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object());

    // The PodDisruptionBudget keeps one of the two.
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *selector);

    // The Service: 443 to the container's https port (8443), selecting the webhook pods.
    let service = one(&objects, "Service");
    assert_eq!(service["spec"]["selector"], *selector);
    assert!(service["spec"]["ports"].as_array().unwrap().contains(
        &json!({"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"})
    ));
    assert_eq!(
        one(&objects, "ServiceAccount")["automountServiceAccountToken"],
        false
    );

    // The configuration: the collector, and podflow accepts it and injects with it.
    let (text, config) = podflow_config(&objects);
    assert_eq!(
        config["export"]["collector"],
        "udp://collector.monitoring:4739"
    );
    assert_eq!(config["webhook"]["match"]["mode"], "any");
    assert_eq!(config["webhook"]["sidecar"]["security_profile"], "default");
    assert_eq!(config["webhook"]["tls_cert"], "/etc/podflow/tls/tls.crt");
    assert!(config.get("k8s").is_none(), "no cluster name by default");
    let injected = inject_with(&text);
    let sidecar = sidecar_of(&injected, true);
    assert_eq!(sidecar["image"], "ghcr.io/podflow/podflow:0.1.0");
    assert_eq!(
        env_value(sidecar, "PODFLOW_EXPORT__COLLECTOR"),
        Some("udp://collector.monitoring:4739")
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_IPFIX__ENTERPRISE_NUMBER"),
        Some("32473")
    );
    assert_eq!(sidecar["securityContext"]["runAsUser"], 65532);
    assert_eq!(sidecar["startupProbe"]["httpGet"]["path"], "/startupz");
}

#[test]
fn tcp_collector_labels_and_deployments() {
    let objects = rendered(&["tcp-match.yaml"]);
    let hook = webhook(&objects);
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["timeoutSeconds"], 3);
    // The user's selector, plus the exclusions that always apply.
    assert_eq!(
        hook["namespaceSelector"]["matchLabels"],
        json!({"team": "shop"})
    );
    let expressions = namespace_expressions(hook);
    assert_eq!(expressions.len(), 4);
    assert_eq!(
        expressions[3],
        json!({"key": "environment", "operator": "In", "values": ["prod", "staging"]}),
        "the user's expressions come after the chart's"
    );
    assert!(expressions.contains(&pod_security_exclusion(&["baseline", "restricted"])));
    assert!(expressions
        .iter()
        .any(|e| e["key"] == "kubernetes.io/metadata.name"
            && e["values"] == json!(["kube-system", NAMESPACE])));

    assert_eq!(one(&objects, "Deployment")["spec"]["replicas"], 3);
    let c = container(&objects);
    assert_eq!(c["image"], "registry.example.com/podflow:0.1.0-rc1");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        c["env"],
        json!([{"name": "PODFLOW_LOG__LEVEL", "value": "debug"}])
    );

    let (text, config) = podflow_config(&objects);
    assert_eq!(
        config["export"]["collector"],
        "tcp://ipfix.collectors.svc.cluster.local:4740"
    );
    assert_eq!(
        config["webhook"]["match"],
        json!({"labels": {"app.kubernetes.io/part-of": "shop", "tier": "1"},
               "deployments": ["shop-web", "payments/checkout"], "mode": "all"})
    );
    assert_eq!(config["ipfix"]["enterprise_number"], 64512);
    assert_eq!(config["k8s"]["cluster_name"], "prod-eu-1");
    let injected = inject_with(&text);
    let sidecar = sidecar_of(&injected, false);
    assert_eq!(sidecar["image"], "registry.example.com/podflow:0.1.0-rc1");
    assert_eq!(sidecar["imagePullPolicy"], "Always");
    assert_eq!(config["webhook"]["sidecar"]["security_profile"], "root");
    assert_eq!(sidecar["securityContext"]["runAsUser"], 0);
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"], false);
    assert!(sidecar.get("startupProbe").is_none(), "a regular container");
    assert_eq!(
        sidecar["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_EXPORT__COLLECTOR"),
        Some("tcp://ipfix.collectors.svc.cluster.local:4740")
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_K8S__CLUSTER_NAME"),
        Some("prod-eu-1")
    );
    assert_eq!(
        env_value(sidecar, "PODFLOW_IPFIX__ENTERPRISE_NUMBER"),
        Some("64512")
    );

    // The ServiceMonitor scrapes the Service's metrics port.
    let monitor = one(&objects, "ServiceMonitor");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    let service = one(&objects, "Service");
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][k], v);
    }
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert!(service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "metrics" && p["port"] == 9477));
}

#[test]
fn security_profiles_shape_the_sidecar_and_the_namespaces_left_out() {
    for (profile, refusing, levels) in [
        ("default", vec!["baseline", "restricted"], vec![]),
        ("root", vec!["baseline", "restricted"], vec![]),
        ("baseline", vec!["restricted"], vec![Level::Baseline]),
    ] {
        let set = format!("sidecar.securityProfile={profile}");
        let objects = render(&["defaults.yaml"], &[&set])
            .unwrap_or_else(|e| panic!("helm template {set}:\n{e}"));
        validate(&objects);
        let expressions = namespace_expressions(webhook(&objects));
        assert_eq!(expressions.len(), 3, "{profile}");
        assert_eq!(
            expressions[2],
            pod_security_exclusion(&refusing),
            "{profile}"
        );

        let (text, config) = podflow_config(&objects);
        assert_eq!(config["webhook"]["sidecar"]["security_profile"], profile);
        let injected = inject_with(&text);
        let pod = &injected["spec"]["template"]["spec"];
        assert_eq!(
            pss::levels(pod),
            levels,
            "{profile}: {:?}",
            pss::violations(pod, Level::Baseline)
        );
        let sc = &sidecar_of(&injected, true)["securityContext"];
        let uid = if profile == "default" { 65532 } else { 0 };
        assert_eq!(sc["runAsUser"], uid, "{profile}");
        // A namespace is left out exactly when its level refuses the patched pod.
        let meets = |level: &str| match level {
            "baseline" => levels.contains(&Level::Baseline),
            "restricted" => levels.contains(&Level::Restricted),
            _ => true,
        };
        for level in ["privileged", "baseline", "restricted"] {
            assert_eq!(
                refusing.contains(&level),
                !meets(level),
                "{profile} in a namespace enforcing {level}"
            );
        }
    }

    // Turned off: only the fixed exclusions.
    let objects = render(
        &["defaults.yaml"],
        &["sidecar.skipEnforcingNamespaces=false"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    validate(&objects);
    let expressions = namespace_expressions(webhook(&objects));
    assert_eq!(expressions.len(), 2, "{expressions:?}");
    assert!(expressions
        .iter()
        .all(|e| e["key"] != "pod-security.kubernetes.io/enforce"));
}

#[test]
fn a_user_namespace_selector_is_merged_with_the_exclusions() {
    let objects = render(
        &["defaults.yaml"],
        &[
            "sidecar.securityProfile=baseline",
            "namespaceSelector.matchLabels.team=payments",
            "namespaceSelector.matchExpressions[0].key=tier",
            "namespaceSelector.matchExpressions[0].operator=Exists",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    validate(&objects);
    let selector = &webhook(&objects)["namespaceSelector"];
    assert_eq!(selector["matchLabels"], json!({"team": "payments"}));
    let expressions = namespace_expressions(webhook(&objects));
    assert_eq!(
        expressions[1..],
        [
            json!({"key": "podflow.io/inject", "operator": "NotIn", "values": ["disabled"]}),
            pod_security_exclusion(&["restricted"]),
            json!({"key": "tier", "operator": "Exists"}),
        ]
    );
}
