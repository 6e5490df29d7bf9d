//! The pure IPFIX encoder: flow records and exporter statistics in, messages out.
//!
//! Messages follow RFC 7011 §3.1 (header), §3.3 (sets), §3.4 (template and options
//! template records), §6.1 (encodings, network byte order), §7 (variable-length
//! strings) and §8.1 (template withdrawal), with RFC 5610 type records. No padding is
//! ever written, and no message exceeds `max_message_bytes`.

mod control;
mod fit;
mod pack;
mod values;

use std::ops::Range;

use self::fit::PodFields;
use self::pack::Packer;
pub use self::values::{group_field_json, put_octets};
use super::elements::{DataType, ElementIds, Ie, DEFAULT_ENTERPRISE_NUMBER};
use super::template::{data_fields_with, data_template_id, group, group_masks, POD_FIELDS};
use crate::flow::app::App;
use crate::flow::{FlowRecord, Nanos};
use crate::identity::{PeerIdentity, PodIdentity};

/// IPFIX version number in every message header.
pub const VERSION: u16 = 10;
/// Length of the message header.
pub const HEADER_LEN: usize = 16;
/// Length of a set header.
pub const SET_HEADER_LEN: usize = 4;
/// The largest message the 16-bit length field can describe.
pub const MAX_MESSAGE_LEN: usize = 65535;

/// Everything one data record carries: the flow plus what attribution added.
#[derive(Clone, Copy, Debug)]
pub struct ExportRecord<'a> {
    pub flow: &'a FlowRecord,
    /// flowDirection seen from the observed pod: 0 ingress, 1 egress.
    pub direction: u8,
    /// The interface inside the observed namespace, e.g. `eth0`.
    pub interface: &'a str,
    /// k8sObservationPoint: 1 sidecar, 2 node (pod namespace), 3 node (host interfaces).
    pub observation_point: u8,
    pub pod: &'a PodIdentity,
    /// The other end, sent only when the templates carry peer elements.
    pub peer: Option<&'a PeerIdentity>,
}

/// What shapes the templates and the messages of one exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderOptions {
    pub observation_domain_id: u32,
    /// PEN of the Kubernetes elements.
    pub enterprise_number: u32,
    /// Adds the RFC 5103 reverse counters to the data templates.
    pub biflow: bool,
    /// Adds the k8sPeer* elements to the data templates.
    pub with_peer: bool,
    /// Upper bound of a message (capped at 65535, the most the header can say).
    pub max_message_bytes: usize,
    /// Templates for the TCP network performance fields.
    pub npm: bool,
    /// Templates for the application fields (DNS, HTTP, TLS).
    pub l7: bool,
    /// podflow's element ids, or Flowmon's where one exists.
    pub element_ids: ElementIds,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            observation_domain_id: 0,
            enterprise_number: DEFAULT_ENTERPRISE_NUMBER,
            biflow: false,
            with_peer: false,
            // Fits an Ethernet MTU with room for IP and UDP headers.
            max_message_bytes: 1400,
            npm: false,
            l7: false,
            element_ids: ElementIds::Podflow,
        }
    }
}

/// Exporter statistics carried by the options record (RFC 7011 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub exported_messages: u64,
    pub exported_records: u64,
    pub exported_octets: u64,
    pub observed_flows: u64,
    pub ignored_packets: u64,
    pub not_sent_records: u64,
    /// The period the counts cover.
    pub period_start: Nanos,
    pub period_end: Nanos,
}

/// One encoded message with the data records it carries: the sender counts what it sent
/// from here, never from the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The whole message, header included.
    pub bytes: Vec<u8>,
    /// Data records in it: what its header's sequence number advanced the session by.
    pub records: u32,
    /// Records in it whose metadata was cut to fit the budget.
    pub cut: u32,
}

/// Turns records into IPFIX messages and keeps the sequence number of one transport
/// session and observation domain.
#[derive(Clone, Debug)]
pub struct Encoder {
    opts: EncoderOptions,
    /// Every data template: the base ones first (IPv4, IPv6), then one per family and
    /// combination of groups records can carry.
    pub(super) data_templates: Vec<DataTemplate>,
    /// Where in `data_templates` the template of a family (0 IPv4, 1 IPv6) and mask is.
    by_mask: [[u8; group::COMBINATIONS]; 2],
    pub(super) sequence: u32,
}

/// One data template: its id, its fields, and how records are written for it.
#[derive(Clone, Debug)]
pub(super) struct DataTemplate {
    pub(super) id: u16,
    pub(super) fields: Vec<Ie>,
    layout: Layout,
}

/// The groups of fields `flow` carries (bits of [`group`]).
pub fn groups_of(flow: &FlowRecord) -> u8 {
    let Some(ext) = flow.ext.as_deref() else {
        return 0;
    };
    let mut mask = 0;
    if let Some(tcp) = ext.tcp_figures() {
        mask |= group::TCP;
        if tcp.handshake.is_some() {
            mask |= group::HANDSHAKE;
        }
    }
    mask |= match ext.app() {
        Some(App::Dns(_)) => group::DNS,
        Some(App::Http(_)) => group::HTTP,
        Some(App::Tls(t)) if t.hello.is_some() => group::TLS,
        _ => 0,
    };
    mask
}

impl Encoder {
    /// An encoder at the start of a transport session (sequence number 0).
    pub fn new(opts: EncoderOptions) -> Encoder {
        let mut data_templates = Vec::new();
        // Mask 0 comes first: the base templates are 0 (IPv4) and 1 (IPv6), what a record
        // of groups the encoder has no template for is written with.
        let mut by_mask = [[0u8; group::COMBINATIONS], [1u8; group::COMBINATIONS]];
        for mask in group_masks(opts.npm, opts.l7) {
            for ipv6 in [false, true] {
                let fields = data_fields_with(ipv6, opts.biflow, opts.with_peer, mask);
                by_mask[usize::from(ipv6)][usize::from(mask)] = data_templates.len() as u8;
                data_templates.push(DataTemplate {
                    id: data_template_id(ipv6, mask),
                    layout: layout(&fields, opts.element_ids),
                    fields,
                });
            }
        }
        Encoder {
            data_templates,
            by_mask,
            opts,
            sequence: 0,
        }
    }

    /// The template `rec` is written with: the one of its family and groups, or the
    /// base template when the encoder has none for its groups.
    fn template_of(&self, rec: &ExportRecord<'_>) -> &DataTemplate {
        let family = usize::from(rec.flow.key.ipv6);
        let at = self.by_mask[family][usize::from(groups_of(rec.flow))];
        &self.data_templates[usize::from(at)]
    }

    /// Data records sent so far in this session, modulo 2^32: the next header's sequence
    /// number.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// A new transport session (e.g. a TCP reconnect): sequence numbers restart at 0.
    pub fn reset_session(&mut self) {
        self.sequence = 0;
    }

    fn budget(&self) -> usize {
        self.opts.max_message_bytes.min(MAX_MESSAGE_LEN)
    }

    /// The fields of `rec`'s template.
    fn fields_of(&self, rec: &ExportRecord<'_>) -> &[Ie] {
        &self.template_of(rec).fields
    }

    /// The fields of `rec`'s template with their data types, and where in them the run
    /// of the pod's identity fields is.
    fn layout_of(&self, rec: &ExportRecord<'_>) -> (&[(Ie, DataType)], Range<usize>) {
        let layout = &self.template_of(rec).layout;
        (&layout.fields, layout.pod_span.clone())
    }

    /// The options in force.
    pub fn options_in_force(&self) -> &EncoderOptions {
        &self.opts
    }

    /// Data records packed into as few messages as fit `max_message_bytes`. IPv4 records
    /// come first in one data set, IPv6 records in another, both in the same message when
    /// they fit. No message exceeds the budget: a record too large for a message of its
    /// own has its metadata cut (counted in [`Encoded::cut`]). Each message advances the
    /// sequence number by its records.
    pub fn records(&mut self, recs: &[ExportRecord<'_>], export_time_secs: u32) -> Vec<Encoded> {
        let max_record = self.budget() - HEADER_LEN - SET_HEADER_LEN;
        let mut packer = self.packer(export_time_secs);
        let mut scratch = Vec::with_capacity(512);
        let mut pod_fields = PodFields::default();
        let ordered = recs
            .iter()
            .filter(|r| !r.flow.key.ipv6)
            .chain(recs.iter().filter(|r| r.flow.key.ipv6));
        for rec in ordered {
            let set_id = self.template_of(rec).id;
            let cut = self.encode_record(&mut scratch, rec, max_record, &mut pod_fields);
            packer.push(set_id, &scratch, true, cut);
        }
        self.finish(packer)
    }

    /// Records already encoded (the mediator's, passed on), packed in order into as few
    /// messages as the budget allows: each `(set id, record bytes, data)`, where `data`
    /// says whether it is a data record (which advances the sequence number) or a
    /// template record. A record longer than a message can hold goes in a message of its
    /// own.
    pub fn pack<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u16, &'a [u8], bool)>,
        export_time_secs: u32,
    ) -> Vec<Encoded> {
        let mut packer = self.packer(export_time_secs);
        for (set_id, record, data) in records {
            packer.push(set_id, record, data, false);
        }
        self.finish(packer)
    }

    /// A packer that starts at this session's sequence number.
    fn packer(&self, export_time_secs: u32) -> Packer {
        Packer::new(
            self.opts.observation_domain_id,
            self.sequence,
            export_time_secs,
            self.budget(),
        )
    }

    /// The messages of `packer`; the session's sequence number follows them.
    fn finish(&mut self, packer: Packer) -> Vec<Encoded> {
        let (out, sequence) = packer.finish();
        self.sequence = sequence;
        out
    }
}

/// A template's fields with their data types, looked up once: what a record is written
/// from.
#[derive(Clone, Debug)]
struct Layout {
    fields: Vec<(Ie, DataType)>,
    /// The pod's identity fields: a run whose values come from the pod alone.
    pod_span: Range<usize>,
}

fn layout(fields: &[Ie], ids: ElementIds) -> Layout {
    let at = |ie| fields.iter().position(|&f| f == ie);
    let pod_span = match (at(POD_FIELDS[0]), at(POD_FIELDS[POD_FIELDS.len() - 1])) {
        (Some(start), Some(last)) if fields[start..=last] == POD_FIELDS => start..last + 1,
        _ => 0..0,
    };
    Layout {
        fields: fields
            .iter()
            .map(|&ie| (ie, ie.wire(ids).data_type))
            .collect(),
        pod_span,
    }
}
