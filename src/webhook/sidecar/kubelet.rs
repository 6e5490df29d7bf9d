//! The environment the kubelet gives a container, for tests: `$(NAME)` expansion exactly
//! as the kubelet does it (Kubernetes `third_party/forked/golang/expansion`), applied to
//! the container's `env` as the API has it (JSON). Used by the unit tests of the sidecar
//! and, through `#[path]`, by the integration tests.
#![allow(dead_code)]

use serde_json::Value;

/// Expands `input` as the kubelet expands an env value: `$$` is `$`; `$(NAME)` is the
/// value `lookup` gives NAME, or stays `$(NAME)` when it gives none; a `$(` that is never
/// closed, a `$` before any other character and a `$` at the end are kept as written.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'$' => {
                out.push(b'$');
                i += 2;
            }
            b'(' => match bytes[i + 2..].iter().position(|&b| b == b')') {
                Some(len) => {
                    let name = &input[i + 2..i + 2 + len];
                    match lookup(name) {
                        Some(value) => out.extend_from_slice(value.as_bytes()),
                        None => out.extend_from_slice(format!("$({name})").as_bytes()),
                    }
                    i += 2 + len + 1;
                }
                None => {
                    out.extend_from_slice(b"$(");
                    i += 2;
                }
            },
            other => {
                out.extend_from_slice(&[b'$', other]);
                i += 2;
            }
        }
    }
    String::from_utf8(out).expect("expansion keeps UTF-8: it cuts only at ASCII bytes")
}

/// The variables of `container` (JSON) in order, as its process gets them: a `value` is
/// expanded against the variables before it, a `fieldRef` is looked up in `fields`
/// (`metadata.name` -> value). Any other source is a test error.
pub fn environment(container: &Value, fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().expect("env name").to_string();
        let value = if let Some(path) = var.pointer("/valueFrom/fieldRef/fieldPath") {
            let path = path.as_str().unwrap();
            fields
                .iter()
                .find(|(p, _)| *p == path)
                .unwrap_or_else(|| panic!("no value for the field {path}"))
                .1
                .to_string()
        } else {
            let written = var["value"].as_str().unwrap_or("");
            expand(written, |wanted| {
                env.iter()
                    .rev()
                    .find(|(n, _)| n == wanted)
                    .map(|(_, v)| v.clone())
            })
        };
        env.push((name, value));
    }
    env
}
