//! helm as `scripts/test.sh` installs it (`$HELM`, else `.tools/helm/package/bin/helm`),
//! and `helm template` of `chart/podflow` read back as objects.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

pub fn helm() -> PathBuf {
    let path = std::env::var_os("HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::common::root().join(".tools/helm/package/bin/helm"));
    assert!(
        path.is_file(),
        "helm not found at {} (set HELM or run scripts/test.sh, which installs it)",
        path.display()
    );
    path
}

pub fn chart_dir() -> PathBuf {
    crate::common::root().join("chart/podflow")
}

/// `helm template RELEASE chart/podflow ARGS...`: the rendered objects, or helm's error
/// output.
pub fn template<A: AsRef<OsStr>>(
    release: &str,
    args: impl IntoIterator<Item = A>,
) -> Result<Vec<Value>, String> {
    let out = Command::new(helm())
        .args(["template", release])
        .arg(chart_dir())
        .args(args)
        .output()
        .expect("run helm");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let mut objects = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc).expect("helm's output is YAML");
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}
