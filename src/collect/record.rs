//! One decoded record as a JSON object: where it came from, then every field by its
//! element's name (podflow's own table, else what a type record said, else
//! `"PEN/ID"`). Pure: the listeners hand it what they decoded.

use serde_json::{json, Map, Value as Json};

use crate::ipfix::{DataRecord, FieldSpec, Header, Session, Value};

/// The JSON line of `record`, received from `exporter` in a message with `header`.
pub fn to_json(exporter: &str, header: &Header, record: &DataRecord, session: &Session) -> Json {
    let domain = header.observation_domain_id;
    let mut m = Map::new();
    m.insert("exporter".into(), json!(exporter));
    m.insert("observationDomainId".into(), json!(domain));
    m.insert("sequence".into(), json!(header.sequence));
    m.insert("templateId".into(), json!(record.template_id));
    if record.is_options() {
        m.insert("options".into(), json!(true));
    }
    for (spec, value) in &record.fields {
        let name = match session.element_name(domain, *spec) {
            Some(name) => name.to_owned(),
            None => unnamed(*spec),
        };
        m.entry(name).or_insert_with(|| value_json(value));
    }
    Json::Object(m)
}

/// The key of an element nobody named.
fn unnamed(spec: FieldSpec) -> String {
    format!("{}/{}", spec.pen, spec.id)
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Unsigned(n) | Value::Milliseconds(n) => json!(n),
        Value::Ip(ip) => json!(ip.to_string()),
        Value::String(s) => json!(s),
        Value::Bytes(b) => json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfix::{peek_header, Counts, Encoder, EncoderOptions};

    #[test]
    fn options_records_are_named_and_unknown_elements_keep_their_ids() {
        let mut enc = Encoder::new(EncoderOptions {
            observation_domain_id: 3,
            ..EncoderOptions::default()
        });
        let mut session = Session::default();
        for t in enc.templates(0) {
            session.decode(&t).unwrap();
        }
        let counts = Counts {
            not_sent_records: 12,
            ..Counts::default()
        };
        let msg = enc.options(&counts, 0);
        let m = session.decode(&msg).unwrap();
        let header = peek_header(&msg).unwrap().unwrap();
        let j = to_json("10.0.0.1:5000", &header, &m.records[0], &session);
        assert_eq!(j["exporter"], "10.0.0.1:5000");
        assert_eq!(j["observationDomainId"], 3);
        assert_eq!(j["templateId"], 258);
        assert_eq!(j["options"], true);
        assert_eq!(j["notSentFlowTotalCount"], 12);

        let mut record = m.records[0].clone();
        record.fields = vec![(FieldSpec { pen: 9, id: 7 }, Value::Bytes(vec![0xab, 1]))];
        let j = to_json("x", &header, &record, &session);
        assert_eq!(j["9/7"], "ab01");
    }
}
