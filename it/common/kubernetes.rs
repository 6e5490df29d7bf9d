//! Offline validation of Kubernetes objects against the 1.33 schema with
//! `kubernetes-validate --strict` (PyPI), run by IPFIX_PYTHON or .venv's Python.

use serde_json::Value;

fn python() -> String {
    std::env::var("IPFIX_PYTHON")
        .unwrap_or_else(|_| super::root().join(".venv/bin/python").display().to_string())
}

/// Validates each object (written to its own file), failing with the validator's report.
pub fn validate(objects: &[Value]) {
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
    let out = std::process::Command::new(python())
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            "1.33.0",
            "--no-warn",
        ])
        .args(&files)
        .output()
        .expect("python with kubernetes-validate (set IPFIX_PYTHON or make .venv)");
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
