//! Downward-API field values: what the kubelet gives for a `fieldRef` or `resourceFieldRef`,
//! in environment variables and in downwardAPI volume files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Container, Pod, ResourceFieldSelector};

use super::resources::{self, Quantity};
use super::{NodeInfo, TranslateError};

/// Labels and annotations as the kubelet writes them: `key="value"` lines sorted by key,
/// values quoted as Go's `%q` does, the last newline trimmed.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (key, value) in map {
        let _ = writeln!(out, "{key}={}", go_quote(value));
    }
    out.pop();
    out
}

/// A string quoted as Go's `strconv.Quote` (`%q`) quotes it: printable characters as they
/// are, `\a \b \f \n \r \t \v \\ \"` escaped, other characters as `\xHH`, `\uHHHH` or
/// `\UHHHHHHHH`. Printable is decided without Unicode tables: controls, separators other
/// than the ASCII space, the common format characters, private-use characters and
/// non-characters are escaped; unassigned code points are taken as printable.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

fn is_go_printable(c: char) -> bool {
    let n = u32::from(c);
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(n, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e)
        || matches!(n, 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f)
        || matches!(n, 0xfeff | 0xfff9..=0xfffb | 0xfffe | 0xffff)
        || matches!(n, 0xe000..=0xf8ff | 0xf0000..=0x10ffff)
        || n & 0xfffe == 0xfffe)
}

/// What the kubelet knows of a running pod beyond its spec: its addresses.
#[derive(Clone, Debug, Default)]
pub struct PodAddresses {
    /// `status.podIPs` from the sandbox's CRI status (the node's addresses for host network).
    pub pod_ips: Vec<String>,
}

/// The value of `fieldRef.fieldPath` for `pod` on `node`.
pub fn field_value(
    pod: &Pod,
    path: &str,
    node: &NodeInfo,
    addresses: &PodAddresses,
) -> Result<String, TranslateError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(labels),
        "metadata.annotations" => format_map(annotations),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => node.addresses.first().cloned().unwrap_or_default(),
        "status.hostIPs" => node.addresses.join(","),
        "status.podIP" => addresses.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => addresses.pod_ips.join(","),
        other => {
            let subscript = |prefix: &str| {
                other
                    .strip_prefix(prefix)?
                    .strip_prefix("['")?
                    .strip_suffix("']")
                    .map(str::to_string)
            };
            if let Some(key) = subscript("metadata.labels") {
                labels.get(&key).cloned().unwrap_or_default()
            } else if let Some(key) = subscript("metadata.annotations") {
                annotations.get(&key).cloned().unwrap_or_default()
            } else {
                return Err(TranslateError::FieldPath(other.to_string()));
            }
        }
    };
    Ok(value)
}

/// The value of a `resourceFieldRef`: the container's request or limit divided by the
/// divisor, rounded up; a limit that is not set is the node's capacity.
pub fn resource_value(
    container: &Container,
    selector: &ResourceFieldSelector,
    node: &NodeInfo,
) -> Result<String, TranslateError> {
    let resources = container.resources.as_ref();
    let (kind, name) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| TranslateError::FieldPath(selector.resource.clone()))?;
    let list = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(TranslateError::FieldPath(selector.resource.clone())),
    };
    let set = list
        .and_then(|l| l.get(name))
        .map(|q| Quantity::parse(&q.0))
        .transpose()?;
    let divisor = selector
        .divisor
        .as_ref()
        .map(|q| Quantity::parse(&q.0))
        .transpose()?
        .unwrap_or(Quantity::ONE);
    let value = match (name, set) {
        (_, Some(q)) => q,
        ("cpu", None) if kind == "limits" => Quantity::from_milli(node.cpu_capacity_millis),
        ("memory", None) if kind == "limits" => Quantity::from_value(node.memory_capacity_bytes),
        ("cpu" | "memory", None) => Quantity::ZERO,
        _ => return Err(TranslateError::FieldPath(selector.resource.clone())),
    };
    // The kubelet divides CPU in millicores and everything else in units, rounding up.
    let (value, divisor) = if name == "cpu" {
        (value.milli(), divisor.milli())
    } else {
        (value.value(), divisor.value())
    };
    if divisor <= 0 {
        return Err(TranslateError::FieldPath(format!(
            "{} with divisor {divisor}",
            selector.resource
        )));
    }
    Ok(resources::div_ceil(value, divisor).to_string())
}
