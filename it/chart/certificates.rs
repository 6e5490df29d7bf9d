//! The webhook's serving certificate: from cert-manager (self-signed or a given issuer) or
//! provided as PEM.

use super::*;

#[test]
fn cert_manager_self_signed() {
    let objects = rendered(&["cert-manager.yaml"]);
    assert!(
        all(&objects, "Secret").is_empty(),
        "cert-manager writes the Secret"
    );
    let config = one(&objects, "MutatingWebhookConfiguration");
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!("{NAMESPACE}/{FULLNAME}-tls")
    );
    assert!(webhook(&objects)["clientConfig"].get("caBundle").is_none());

    let serving = named(&objects, "Certificate", &format!("{FULLNAME}-tls"));
    assert_eq!(serving["spec"]["secretName"], tls_secret_name(&objects));
    assert!(serving["spec"]["dnsNames"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("{FULLNAME}.{NAMESPACE}.svc"))));
    // serving <- CA issuer <- CA certificate <- self-signed issuer
    let ca_issuer = named(
        &objects,
        "Issuer",
        serving["spec"]["issuerRef"]["name"].as_str().unwrap(),
    );
    let ca_secret = ca_issuer["spec"]["ca"]["secretName"].as_str().unwrap();
    let ca_cert = all(&objects, "Certificate")
        .into_iter()
        .find(|c| c["spec"]["secretName"] == ca_secret)
        .expect("a Certificate for the CA issuer's Secret");
    assert_eq!(ca_cert["spec"]["isCA"], true);
    let root = named(
        &objects,
        "Issuer",
        ca_cert["spec"]["issuerRef"]["name"].as_str().unwrap(),
    );
    assert_eq!(root["spec"]["selfSigned"], json!({}));
}

#[test]
fn cert_manager_given_issuer() {
    let objects = rendered(&["cert-manager-issuer.yaml"]);
    assert!(all(&objects, "Issuer").is_empty());
    let certificate = one(&objects, "Certificate");
    assert_eq!(
        certificate["spec"]["issuerRef"],
        json!({"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "internal-ca"})
    );
    assert_eq!(
        one(&objects, "MutatingWebhookConfiguration")["metadata"]["annotations"]
            ["cert-manager.io/inject-ca-from"],
        format!(
            "{NAMESPACE}/{}",
            certificate["metadata"]["name"].as_str().unwrap()
        )
    );
}

fn provided_pem(name: &str) -> String {
    let text = std::fs::read_to_string(fixture("chart/provided.yaml")).unwrap();
    let values: Value = serde_norway::from_str(&text).unwrap();
    values["tls"]["provided"][name]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn provided_certificate() {
    let objects = rendered(&["provided.yaml"]);
    let secret = one(&objects, "Secret");
    assert_eq!(secret["metadata"]["name"], tls_secret_name(&objects));
    assert_eq!(b64_text(&secret["data"]["tls.crt"]), provided_pem("cert"));
    assert_eq!(b64_text(&secret["data"]["tls.key"]), provided_pem("key"));
    let ca = b64_text(&webhook(&objects)["clientConfig"]["caBundle"]);
    assert_eq!(ca, provided_pem("ca"));
    assert_cert_serves(&ca, &provided_pem("cert"));
    assert_eq!(
        podflow_config(&objects).1["export"]["collector"],
        "udp://10.0.0.5:4739"
    );

    let objects = rendered(&["provided-secret.yaml"]);
    assert!(all(&objects, "Secret").is_empty());
    assert_eq!(tls_secret_name(&objects), "webhook-cert");
    assert_eq!(
        b64_text(&webhook(&objects)["clientConfig"]["caBundle"]),
        provided_pem("ca")
    );
}
