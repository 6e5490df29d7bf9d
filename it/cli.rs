//! The command line as an operator meets it: help, version, configuration errors and bad
//! input files, through the real binary.

mod common;

use common::*;
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn help_explains_modes_and_configuration() {
    podflow()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("--mode"))
        .stdout(contains("sidecar"))
        .stdout(contains("webhook"))
        .stdout(contains("node"))
        .stdout(contains("PODFLOW_<SECTION>__<KEY>"))
        .stdout(contains("--config"));
}

#[test]
fn version() {
    podflow()
        .arg("--version")
        .assert()
        .success()
        .stdout(contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn mode_is_required_and_checked() {
    podflow().assert().code(2).stderr(contains("--mode"));
    podflow()
        .env("PODFLOW_MODE", "router")
        .assert()
        .code(2)
        .stderr(contains("router"));
}

#[test]
fn mode_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    podflow()
        .env("PODFLOW_MODE", "sidecar")
        .env("PODFLOW_CAPTURE__PCAP", fixture("sample-1k.pcap"))
        .env(
            "PODFLOW_EXPORT__COLLECTOR",
            format!("file:{}", dir.path().join("f.ipfix").display()),
        )
        .assert()
        .success();
    assert!(dir.path().join("f.ipfix").metadata().unwrap().len() > 0);
}

#[test]
fn bad_env_value_names_key_value_and_variable() {
    podflow()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "soon")
        .assert()
        .code(2)
        .stderr(contains("flow.idle_timeout_secs"))
        .stderr(contains("\"soon\""))
        .stderr(contains(
            "environment variable PODFLOW_FLOW__IDLE_TIMEOUT_SECS",
        ));
}

#[test]
fn bad_file_values_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("podflow.toml");
    std::fs::write(&toml, "[export]\ncollector = \"carrier-pigeon\"\n").unwrap();
    podflow()
        .args(["--mode", "sidecar", "--config"])
        .arg(&toml)
        .assert()
        .code(2)
        .stderr(contains("export.collector"))
        .stderr(contains("carrier-pigeon"))
        .stderr(contains(toml.display().to_string()));

    let yaml = dir.path().join("podflow.yaml");
    std::fs::write(&yaml, "flow:\n  max_flows: -3\n").unwrap();
    podflow()
        .args(["--mode", "sidecar", "--config"])
        .arg(&yaml)
        .assert()
        .code(2)
        .stderr(contains("flow.max_flows"))
        .stderr(contains("-3"))
        .stderr(contains(yaml.display().to_string()));
}

#[test]
fn unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("podflow.toml");
    std::fs::write(&toml, "[flow]\nidle_timeout = 5\n").unwrap();
    podflow()
        .args(["--mode", "sidecar", "--config"])
        .arg(&toml)
        .assert()
        .code(2)
        .stderr(contains("unknown key flow.idle_timeout = 5"))
        .stderr(contains("idle_timeout_secs"));
    podflow()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_EXPORTER__COLLECTOR", "stdout")
        .assert()
        .code(2)
        .stderr(contains("unknown key exporter"))
        .stderr(contains("PODFLOW_EXPORTER"));
}

#[test]
fn config_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("broken.toml");
    std::fs::write(&toml, "[flow\nbiflow = true\n").unwrap();
    let out = podflow()
        .args(["--mode", "sidecar", "--config"])
        .arg(&toml)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn missing_config_file() {
    podflow()
        .args(["--mode", "sidecar", "--config", "/nonexistent/podflow.toml"])
        .assert()
        .code(2)
        .stderr(contains("/nonexistent/podflow.toml"));
}

#[test]
fn not_a_capture_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, "these are not packets\n").unwrap();
    podflow()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", &f)
        .assert()
        .code(2)
        .stderr(contains("not a pcap or pcapng file"))
        .stderr(contains("notes.txt"));
    podflow()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", dir.path().join("absent.pcap"))
        .assert()
        .code(2)
        .stderr(contains("absent.pcap"));
}

#[test]
fn unknown_link_type() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("usb.pcap");
    let mut bytes = pcap_header(189); // USB: not something podflow decodes
    bytes.extend(pcap_record(1, &[0; 64]));
    std::fs::write(&f, bytes).unwrap();
    podflow()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", &f)
        .assert()
        .code(2)
        .stderr(contains("link type 189"));
}

#[test]
fn garbage_frames_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("garbage.pcap");
    let mut bytes = pcap_header(1);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..500u32 {
        let len = (i % 90) as usize;
        let frame: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        bytes.extend(pcap_record(1_700_000_000 + i, &frame));
    }
    // ...and a truncated last record: the file was cut while being written.
    bytes.extend(&pcap_record(1_700_001_000, &[0u8; 60])[..30]);
    std::fs::write(&f, bytes).unwrap();
    let out = dir.path().join("out.ipfix");
    let run = meter(
        &f,
        &[(
            "PODFLOW_EXPORT__COLLECTOR",
            &format!("file:{}", out.display()),
        )],
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("ends inside a record"));
    let msgs = read_ipfix_file(&out);
    let last = msgs
        .iter()
        .flat_map(|m| &m.records)
        .rfind(|r| r.is_options())
        .expect("a final options record");
    let ignored = last.get_u64("ignoredPacketTotalCount").unwrap();
    // Random bytes almost never form a valid IP frame; whatever did was metered.
    assert!((490..=500).contains(&ignored), "ignored {ignored}");
}

#[test]
fn node_mode_with_a_bad_pod_list_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("pods.json");
    std::fs::write(&garbage, "{\"items\": 7}").unwrap();
    for path in [garbage, dir.path().join("missing.json")] {
        podflow()
            .args(["--mode", "node"])
            .env("PODFLOW_K8S__SOURCE", format!("file:{}", path.display()))
            .env("PODFLOW_TELEMETRY__LISTEN", "")
            .assert()
            .code(2)
            .stderr(contains(path.display().to_string()));
    }
}

#[test]
fn webhook_without_its_certificate_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    let start = || {
        podflow()
            .args(["--mode", "webhook"])
            .env("PODFLOW_WEBHOOK__LISTEN", "127.0.0.1:0")
            .env("PODFLOW_WEBHOOK__TLS_CERT", &cert)
            .env("PODFLOW_WEBHOOK__TLS_KEY", &key)
            .env("PODFLOW_TELEMETRY__LISTEN", "")
            .assert()
            .code(2)
    };
    let missing = format!("webhook.tls_cert = {}: cannot read it", cert.display());
    start().stderr(contains(missing));
    std::fs::write(&cert, "not a certificate\n").unwrap();
    std::fs::write(&key, "not a key\n").unwrap();
    start().stderr(contains("webhook.tls_cert = ").and(contains("no PEM CERTIFICATE block")));
}

#[test]
fn json_output_by_default() {
    let out = meter(&fixture("sample-1k.pcap"), &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for key in [
        "flowStartMilliseconds",
        "protocolIdentifier",
        "octetDeltaCount",
        "k8sPodLabels",
        "flowEndReason",
    ] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    // Logs go to stderr, never mixed into the records.
    assert!(text.lines().all(|l| l.starts_with('{')));
    assert!(predicate::str::contains("done").eval(&String::from_utf8_lossy(&out.stderr)));
}

#[test]
fn json_logs() {
    let out = meter(
        &fixture("sample-1k.pcap"),
        &[("PODFLOW_LOG__FORMAT", "json")],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert!(!lines.is_empty());
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
        assert!(v.get("level").is_some());
    }
}

#[test]
fn export_to_dev_null_discards_quietly() {
    let out = meter(
        &fixture("sample-1k.pcap"),
        &[("PODFLOW_EXPORT__COLLECTOR", "file:/dev/null")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("cannot send"), "{err}");
    assert!(err.contains("not_sent=0"), "{err}");
}

/// Runs the sidecar with one PODFLOW_ variable set and returns its stderr; exit code 2.
fn refused(var: &str, value: &str) -> String {
    let out = podflow()
        .args(["--mode", "sidecar"])
        .env(var, value)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_log_level_that_is_no_level_is_refused_with_the_levels() {
    // tracing alone would take "verbose" for a target, and then log nothing at all.
    let err = refused("PODFLOW_LOG__LEVEL", "verbose");
    for wanted in [
        "log.level = \"verbose\"",
        "PODFLOW_LOG__LEVEL",
        "off, error, warn, info, debug, trace",
    ] {
        assert!(err.contains(wanted), "{wanted:?} in {err}");
    }
}

#[test]
fn a_number_out_of_range_names_the_range() {
    let err = refused("PODFLOW_FLOW__IDLE_TIMEOUT_SECS", "-1");
    assert!(err.contains("flow.idle_timeout_secs = -1"), "{err}");
    assert!(
        err.contains("a whole number from 0 to 18446744073709551615"),
        "{err}"
    );
    let err = refused("PODFLOW_IPFIX__OBSERVATION_DOMAIN_ID", "4294967296");
    assert!(
        err.contains("ipfix.observation_domain_id = 4294967296"),
        "{err}"
    );
    assert!(err.contains("a whole number from 0 to 4294967295"), "{err}");
}

#[test]
fn an_unknown_collector_scheme_is_named_first() {
    let err = refused("PODFLOW_EXPORT__COLLECTOR", "bogus://x");
    assert!(err.contains("unknown scheme \"bogus\""), "{err}");
    assert!(
        !err.contains("has no :PORT"),
        "the scheme comes first: {err}"
    );
}

#[test]
fn a_missing_capture_file_says_its_os_error_once() {
    let out = podflow()
        .args(["--mode", "sidecar"])
        .env("PODFLOW_CAPTURE__PCAP", "/nonexistent/podflow-test.pcap")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap();
    assert!(last.contains("/nonexistent/podflow-test.pcap"), "{last}");
    assert_eq!(
        last.matches("No such file or directory").count(),
        1,
        "{last}"
    );
}

#[test]
fn a_config_file_is_named_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("broken.toml");
    std::fs::write(&toml, "x = [\n").unwrap();
    // An absolute path, run from the file's own directory.
    let out = podflow()
        .current_dir(dir.path())
        .args(["--mode", "sidecar", "--config"])
        .arg(&toml)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot parse config file {}:", toml.display())),
        "{err}"
    );
    // A relative one.
    let out = podflow()
        .current_dir(dir.path())
        .args(["--mode", "sidecar", "--config", "./broken.toml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot parse config file ./broken.toml:"),
        "{err}"
    );
}
