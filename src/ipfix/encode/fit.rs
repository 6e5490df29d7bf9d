//! A data record cut to fit the message budget. Labels, annotations and peer labels come
//! from the pods themselves (up to `k8s.max_metadata_bytes` each), so a record can be
//! larger than a UDP message: its metadata is cut instead, annotations first, then the
//! peer's labels, then the pod's, each keeping as many whole `"key":"value"` entries as
//! fit, so that what is left is still a JSON object. Only when that is not enough (names
//! of absurd length) is every string cut to a common length.

use serde_json::{Map, Value};

use super::values::{cut_at, flow_value, put_value, FieldValue};
use super::{Encoder, ExportRecord};
use crate::identity::PodIdentity;
use crate::ipfix::elements::{DataType, Ie};

/// The pod's identity fields (node name to cluster name, one run of the template) as
/// last written, for the records after it of the same pod: in a sidecar every record
/// has the same pod, in node mode runs of records do. Lives for one call of
/// [`Encoder::records`], while every pod it may point to is borrowed.
#[derive(Default)]
pub(super) struct PodFields<'a> {
    pod: Option<&'a PodIdentity>,
    bytes: Vec<u8>,
}

/// The metadata fields that may be cut, in the order they are cut.
const CUT_ORDER: [Ie; 3] = [
    Ie::K8sPodAnnotations,
    Ie::K8sPeerPodLabels,
    Ie::K8sPodLabels,
];

impl Encoder {
    /// Encodes `rec` into `scratch` within `max` bytes; true when something was cut.
    pub(super) fn encode_record<'a>(
        &self,
        scratch: &mut Vec<u8>,
        rec: &ExportRecord<'a>,
        max: usize,
        pod_fields: &mut PodFields<'a>,
    ) -> bool {
        let fields = self.fields_of(rec);
        let (layout, pod_span) = self.layout_of(rec);
        put_whole(scratch, layout, pod_span, rec, pod_fields);
        if scratch.len() <= max {
            return false;
        }
        let mut cut: Vec<(Ie, String)> = Vec::new();
        put_record(scratch, layout, rec, &cut, usize::MAX);
        if scratch.len() <= max {
            return false;
        }
        for ie in CUT_ORDER.into_iter().filter(|ie| fields.contains(ie)) {
            let current = match flow_value(ie, rec) {
                FieldValue::Str(s) => s,
                _ => continue,
            };
            // What the field holds now: a string field says at most 65535 bytes.
            let written = cut_at(current, usize::from(u16::MAX));
            let excess = scratch.len() - max;
            cut.push((ie, fit_json(current, written.saturating_sub(excess))));
            put_record(scratch, layout, rec, &cut, usize::MAX);
            if scratch.len() <= max {
                return true;
            }
        }
        // Every string cut to the longest common length that fits.
        let (mut fits, mut too_long) = (0usize, usize::from(u16::MAX));
        while too_long - fits > 1 {
            let mid = fits + (too_long - fits) / 2;
            put_record(scratch, layout, rec, &cut, mid);
            if scratch.len() <= max {
                fits = mid;
            } else {
                too_long = mid;
            }
        }
        put_record(scratch, layout, rec, &cut, fits);
        true
    }
}

/// Writes the whole record of `rec` into `scratch` (cleared first), its pod's identity
/// fields (`layout[pod_span]`) copied from `pod_fields` when they are the same pod's.
fn put_whole<'a>(
    scratch: &mut Vec<u8>,
    layout: &[(Ie, DataType)],
    pod_span: std::ops::Range<usize>,
    rec: &ExportRecord<'a>,
    pod_fields: &mut PodFields<'a>,
) {
    scratch.clear();
    let put = |scratch: &mut Vec<u8>, fields: &[(Ie, DataType)]| {
        for &(ie, data_type) in fields {
            put_value(scratch, data_type, flow_value(ie, rec), usize::MAX);
        }
    };
    put(scratch, &layout[..pod_span.start]);
    if !pod_fields.pod.is_some_and(|p| std::ptr::eq(p, rec.pod)) {
        pod_fields.bytes.clear();
        put(&mut pod_fields.bytes, &layout[pod_span.clone()]);
        pod_fields.pod = Some(rec.pod);
    }
    scratch.extend_from_slice(&pod_fields.bytes);
    put(scratch, &layout[pod_span.end..]);
}

/// Writes the record of `rec` into `scratch` (cleared first): the values of `cut` instead
/// of the record's own, every string within `max_string` bytes.
fn put_record(
    scratch: &mut Vec<u8>,
    layout: &[(Ie, DataType)],
    rec: &ExportRecord<'_>,
    cut: &[(Ie, String)],
    max_string: usize,
) {
    scratch.clear();
    for &(ie, data_type) in layout {
        let value = match cut.iter().find(|(c, _)| *c == ie) {
            Some((_, s)) => FieldValue::Str(s),
            None => flow_value(ie, rec),
        };
        put_value(scratch, data_type, value, max_string);
    }
}

/// `json`, a JSON object, within `max` bytes: the leading entries that fit, whole. Text
/// that is not a JSON object is cut at a character boundary.
pub(super) fn fit_json(json: &str, max: usize) -> String {
    if json.len() <= max {
        return json.to_owned();
    }
    let Ok(map) = serde_json::from_str::<Map<String, Value>>(json) else {
        return json[..cut_at(json, max)].to_owned();
    };
    if max < 2 {
        return String::new();
    }
    let mut out = String::from("{");
    for (k, v) in &map {
        let entry = format!("{}:{}", Value::String(k.clone()), v);
        let sep = usize::from(out.len() > 1);
        if out.len() + sep + entry.len() + 1 > max {
            break;
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(&entry);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_whole_leading_entries() {
        let j = r#"{"a":"1","bb":"22","ccc":"333"}"#;
        assert_eq!(fit_json(j, 100), j);
        assert_eq!(fit_json(j, j.len() - 1), r#"{"a":"1","bb":"22"}"#);
        assert_eq!(fit_json(j, 19), r#"{"a":"1","bb":"22"}"#);
        assert_eq!(fit_json(j, 18), r#"{"a":"1"}"#);
        assert_eq!(fit_json(j, 8), "{}");
        assert_eq!(fit_json(j, 1), "");
        // Quotes and escapes inside keys and values survive.
        let q = r#"{"k\"1":"v\n","z":"9"}"#;
        let got = fit_json(q, q.len() - 1);
        assert_eq!(got, r#"{"k\"1":"v\n"}"#);
        assert!(serde_json::from_str::<Value>(&got).is_ok());
        // Not JSON: a plain cut on a character boundary.
        assert_eq!(fit_json("ééé", 5), "éé");
    }
}
