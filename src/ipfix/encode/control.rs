//! The messages that are not flow records: templates (RFC 7011 §3.4), the exporter
//! statistics options record (§4), the Information Element type records (RFC 5610) and
//! the withdrawal of every template (§8.1).

use super::pack::Packer;
use super::values::{options_value, put_value, FieldValue};
use super::{Counts, Encoder};
use crate::ipfix::elements::Ie;
use crate::ipfix::template::{
    put_options_template_record, put_template_record, OPTIONS_FIELDS, OPTIONS_SCOPE,
    SET_ID_OPTIONS_TEMPLATE, SET_ID_TEMPLATE, TEMPLATE_ID_OPTIONS, TEMPLATE_ID_TYPE_INFO,
    TYPE_INFO_FIELDS, TYPE_INFO_SCOPE,
};
use crate::ipfix::typeinfo::described;

impl Encoder {
    /// The IPv4 and IPv6 data templates (set id 2), the options templates of the exporter
    /// statistics and of the type records (set id 3), in as few messages as the budget
    /// allows (one with the defaults). They carry no data records: the sequence number
    /// stays.
    pub fn templates(&mut self, export_time_secs: u32) -> Vec<Vec<u8>> {
        let pen = self.opts.enterprise_number;
        let mut packer = self.packer(export_time_secs);
        let mut record = Vec::with_capacity(256);
        let ids = self.opts.element_ids;
        for t in &self.data_templates {
            record.clear();
            put_template_record(&mut record, t.id, &t.fields, pen, ids);
            packer.push(SET_ID_TEMPLATE, &record, false, false);
        }
        put_options_templates(&mut packer, &mut record, pen);
        let messages = self.finish(packer);
        messages.into_iter().map(|m| m.bytes).collect()
    }

    /// The options templates of the exporter statistics and of the type records alone,
    /// for an exporter whose data templates are its own (the mediator's).
    pub fn options_templates(&mut self, export_time_secs: u32) -> Vec<Vec<u8>> {
        let mut packer = self.packer(export_time_secs);
        let mut record = Vec::with_capacity(128);
        put_options_templates(&mut packer, &mut record, self.opts.enterprise_number);
        let messages = self.finish(packer);
        messages.into_iter().map(|m| m.bytes).collect()
    }

    /// One message with one options data record of exporter statistics.
    pub fn options(&mut self, counts: &Counts, export_time_secs: u32) -> Vec<u8> {
        let domain = self.opts.observation_domain_id;
        let mut record = Vec::with_capacity(72);
        for ie in OPTIONS_SCOPE.into_iter().chain(OPTIONS_FIELDS) {
            let value = options_value(ie, counts, domain);
            put_value(&mut record, ie.element().data_type, value, 0);
        }
        let mut packer = self.packer(export_time_secs);
        packer.push(TEMPLATE_ID_OPTIONS, &record, true, false);
        self.finish(packer).remove(0).bytes
    }

    /// The type records of the Kubernetes elements (RFC 5610): one options record each,
    /// naming the element and giving its data type and semantics. They are data records:
    /// each advances the sequence number.
    pub fn type_info(&mut self, export_time_secs: u32) -> Vec<Vec<u8>> {
        self.type_info_of(described(), export_time_secs)
    }

    /// The type records of `elements`.
    pub fn type_info_of(
        &mut self,
        elements: impl IntoIterator<Item = Ie>,
        export_time_secs: u32,
    ) -> Vec<Vec<u8>> {
        let pen = self.opts.enterprise_number;
        let mut packer = self.packer(export_time_secs);
        let mut record = Vec::with_capacity(64);
        for ie in elements {
            let e = ie.wire(self.opts.element_ids);
            record.clear();
            for field in TYPE_INFO_SCOPE.into_iter().chain(TYPE_INFO_FIELDS) {
                let value = match field {
                    Ie::PrivateEnterpriseNumber => FieldValue::Number(e.registry.pen(pen).into()),
                    Ie::InformationElementId => FieldValue::Number(e.id.into()),
                    Ie::InformationElementDataType => FieldValue::Number(e.data_type.code().into()),
                    Ie::InformationElementSemantics => {
                        FieldValue::Number((ie.semantics() as u8).into())
                    }
                    _ => FieldValue::Str(e.name),
                };
                put_value(&mut record, field.element().data_type, value, usize::MAX);
            }
            packer.push(TEMPLATE_ID_TYPE_INFO, &record, true, false);
        }
        let messages = self.finish(packer);
        messages.into_iter().map(|m| m.bytes).collect()
    }

    /// Withdraws each template and options template of the domain (RFC 7011 §8.1: a
    /// record with the template's id and no fields), before a stream session is closed.
    /// Each options template is withdrawn in a set of its own padded by two bytes, so
    /// that decoders which read an options withdrawal as six bytes (python-ipfix) read
    /// it too. It carries no data records: the sequence number stays.
    pub fn withdrawal(&mut self, export_time_secs: u32) -> Vec<u8> {
        let mut packer = self.packer(export_time_secs);
        for t in &self.data_templates {
            packer.push(SET_ID_TEMPLATE, &withdrawn(t.id), false, false);
        }
        for id in [TEMPLATE_ID_OPTIONS, TEMPLATE_ID_TYPE_INFO] {
            packer.push_padded(SET_ID_OPTIONS_TEMPLATE, &withdrawn(id), 2);
        }
        self.finish(packer).remove(0).bytes
    }
}

/// A withdrawal record: the template's id and a field count of 0.
fn withdrawn(id: u16) -> [u8; 4] {
    let [a, b] = id.to_be_bytes();
    [a, b, 0, 0]
}

/// The options templates of the exporter statistics and of the type records.
fn put_options_templates(packer: &mut Packer, record: &mut Vec<u8>, pen: u32) {
    for (id, scope, fields) in [
        (TEMPLATE_ID_OPTIONS, &OPTIONS_SCOPE[..], &OPTIONS_FIELDS[..]),
        (
            TEMPLATE_ID_TYPE_INFO,
            &TYPE_INFO_SCOPE[..],
            &TYPE_INFO_FIELDS[..],
        ),
    ] {
        record.clear();
        put_options_template_record(record, id, scope, fields, pen);
        packer.push(SET_ID_OPTIONS_TEMPLATE, record, false, false);
    }
}
