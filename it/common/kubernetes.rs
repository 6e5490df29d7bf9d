//! Offline validation of Kubernetes objects against the 1.33 schema with
//! `kubernetes-validate --strict` (PyPI), run by IPFIX_PYTHON or .venv's Python.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

fn python() -> String {
    std::env::var("IPFIX_PYTHON")
        .unwrap_or_else(|_| super::root().join(".venv/bin/python").display().to_string())
}

/// Runs the validator on each object, written to its own file; `warn` keeps its warnings
/// (a kind it has no schema for). Returns the files, in the order of `objects`, and the
/// validator's output; the files live as long as the returned directory.
pub fn run_validator(objects: &[Value], warn: bool) -> (tempfile::TempDir, Vec<PathBuf>, Output) {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = objects
        .iter()
        .enumerate()
        .map(|(i, object)| {
            let path = dir.path().join(format!("{i}.json"));
            std::fs::write(&path, serde_json::to_vec_pretty(object).unwrap()).unwrap();
            path
        })
        .collect();
    let mut cmd = std::process::Command::new(python());
    cmd.args(["-m", "kubernetes_validate", "--strict", "-k", "1.33.0"]);
    if !warn {
        cmd.arg("--no-warn");
    }
    let out = cmd
        .args(&files)
        .output()
        .expect("python with kubernetes-validate (set IPFIX_PYTHON or run scripts/test.sh)");
    (dir, files, out)
}

/// Validates each object, failing with the validator's report.
pub fn validate(objects: &[Value]) {
    let (_dir, _files, out) = run_validator(objects, false);
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
