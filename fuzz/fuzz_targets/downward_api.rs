//! The Downward-API parser and the identity built from its maps: a labels or annotations
//! file as the kubelet writes it, in. It must never panic, and what it accepts must be
//! exported within `k8s.max_metadata_bytes` as valid JSON objects.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use podflow::metadata::{build, parse_file, Config};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // The file is read as text: bytes that are not UTF-8 are refused before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(map) = parse_file(Path::new("/etc/podinfo/labels"), text) else {
        return;
    };
    // The default configuration, then one with a small cap and the first key as an
    // allow pattern (keys may hold `*` and `?`).
    let mut small = Config {
        max_metadata_bytes: 64,
        annotations_allow: map.keys().take(1).cloned().collect(),
        ..Config::default()
    };
    small.pod_name = map.keys().last().cloned();
    for cfg in [Config::default(), small] {
        let built = build(&cfg, &map, &map);
        let id = built.identity;
        for json in [&id.labels_json, &id.annotations_json] {
            assert!(
                json.len() <= cfg.max_metadata_bytes.max(2),
                "{} bytes",
                json.len()
            );
            let object: Value = serde_json::from_str(json).expect("exported metadata is JSON");
            for (k, v) in object.as_object().expect("a JSON object") {
                assert_eq!(map.get(k).map(String::as_str), v.as_str(), "{k}");
            }
        }
        let labels: Value = serde_json::from_str(&id.labels_json).unwrap();
        let kept = labels.as_object().unwrap().len();
        assert_eq!(kept + built.labels_cut.len(), map.len());
    }
});
