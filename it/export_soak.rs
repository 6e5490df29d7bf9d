//! The outage soak of `scripts/soak.py` at small scale: live capture in a pod network
//! namespace under steady traffic, the collector away and back over TCP and over TLS
//! (with a buffer that holds the outage, and one that does not), a collector that reads
//! 1 KB/s and a stdout nobody reads. Every flow the sender made is received or counted as
//! not sent, the last options record the collector gets says the same (the slow
//! collector's says no more), and memory stays bounded. Needs root.

mod common;

use std::process::Command;

/// Peak RSS podflow (a debug build here) may reach in any scenario.
const PEAK_RSS_KIB: u64 = 64 * 1024;

#[test]
fn every_record_is_received_or_counted_through_outages_root() {
    let out = Command::new("python3")
        .arg(common::root().join("scripts/soak.py"))
        .arg("--podflow")
        .arg(assert_cmd::cargo::cargo_bin("podflow"))
        .args([
            "--rate", "200", "--before", "2", "--outage", "4", "--after", "3", "--json",
        ])
        .output()
        .unwrap();
    common::assert_success(&out);
    let results: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tcp-within",
            "tcp-beyond",
            "tls-within",
            "tls-beyond",
            "slow",
            "stdout"
        ]
    );
    for r in &results {
        let name = r["scenario"].as_str().unwrap();
        let n = |k: &str| {
            r[k].as_u64()
                .unwrap_or_else(|| panic!("{name}: no {k} in {r}"))
        };
        eprintln!("{r}");
        assert_eq!(n("exit_code"), 0, "{r}");
        assert!(n("produced") > 500, "{r}");
        assert_eq!(n("kernel_drops"), 0, "{r}");
        assert_eq!(
            n("received"),
            n("exported"),
            "what podflow sent arrived: {r}"
        );
        assert_eq!(
            n("produced"),
            n("received") + n("not_sent"),
            "all accounted: {r}"
        );
        if name == "slow" {
            // The last options record that gets through a collector reading 1 KB/s was
            // sent before the losses that followed it: it may say less, never more.
            assert!(n("options_not_sent") <= n("not_sent"), "{r}");
        } else if !r["options_not_sent"].is_null() {
            assert_eq!(
                n("options_not_sent"),
                n("not_sent"),
                "the options record: {r}"
            );
        }
        if name.ends_with("within") {
            assert_eq!(n("not_sent"), 0, "the buffer held the outage: {r}");
        }
        if name.ends_with("beyond") || name == "stdout" {
            assert!(n("not_sent") > 0, "{r}");
        }
        assert!(n("peak_rss_kib") < PEAK_RSS_KIB, "{r}");
    }
}
