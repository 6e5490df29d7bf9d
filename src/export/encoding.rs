//! What every transport shares: the attribution of records, the IPFIX encoder with its
//! session (sequence numbers), and the counters of what was sent.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::attribution::Attribution;
use super::stats::ExportStats;
use crate::capture::CaptureStats;
use crate::flow::{wall_now, FlowRecord, FlowTable, Nanos};
use crate::identity::PodIdentity;
use crate::ipfix::{Counts, Encoded, Encoder, EncoderOptions, ExportRecord};

/// Everything the exporter reads to fill the options record.
#[derive(Clone)]
pub struct StatsSources {
    pub table: Arc<FlowTable>,
    pub capture: Arc<CaptureStats>,
}

/// Finished flows to records and messages, for whichever transport sends them.
pub struct Encoding {
    encoder: Encoder,
    attribution: Box<dyn Attribution>,
    biflow: bool,
    sources: StatsSources,
    stats: Arc<ExportStats>,
    started: Nanos,
}

impl Encoding {
    pub fn new(
        opts: EncoderOptions,
        attribution: Box<dyn Attribution>,
        sources: StatsSources,
    ) -> Encoding {
        Encoding {
            biflow: opts.biflow,
            encoder: Encoder::new(opts),
            attribution,
            sources,
            stats: Arc::default(),
            started: wall_now(),
        }
    }

    /// The counters of what was sent.
    pub fn stats(&self) -> &Arc<ExportStats> {
        &self.stats
    }

    /// RFC 5103 reverse counters in every record.
    pub fn biflow(&self) -> bool {
        self.biflow
    }

    /// The records of `flows`, attributed (one read of the shared registries per call).
    pub fn attribute<'a>(&'a mut self, flows: &'a [FlowRecord]) -> Vec<ExportRecord<'a>> {
        attribute(self.attribution.as_mut(), flows)
    }

    /// The observed pod's identity changed.
    pub fn pod_changed(&mut self, pod: Arc<PodIdentity>) {
        self.attribution.pod_changed(pod);
    }

    /// `flows` attributed and encoded into IPFIX data messages.
    pub fn data(&mut self, flows: &[FlowRecord]) -> Vec<Encoded> {
        let records = attribute(self.attribution.as_mut(), flows);
        self.encoder.records(&records, export_time())
    }

    /// Templates, the type records of the Kubernetes elements (RFC 5610) and an options
    /// record: at start, on every refresh, after a reconnect.
    pub fn control(&mut self) -> Vec<Vec<u8>> {
        let t = export_time();
        let mut out = self.encoder.templates(t);
        out.extend(self.encoder.type_info(t));
        out.push(self.options_at(t));
        out
    }

    /// The withdrawal of every template, before a stream session is closed.
    pub fn withdrawal(&mut self) -> Vec<u8> {
        self.encoder.withdrawal(export_time())
    }

    /// The options record of the exporter's totals now.
    pub fn options(&mut self) -> Vec<u8> {
        self.options_at(export_time())
    }

    /// A new transport session (a reconnect): sequence numbers start again at 0.
    pub fn new_session(&mut self) {
        self.encoder.reset_session();
    }

    fn options_at(&mut self, t: u32) -> Vec<u8> {
        let counts = self.counts();
        self.encoder.options(&counts, t)
    }

    fn counts(&self) -> Counts {
        let table = self.sources.table.stats();
        Counts {
            exported_messages: self.stats.messages.load(Relaxed),
            exported_records: self.stats.records.load(Relaxed),
            exported_octets: self.stats.octets.load(Relaxed),
            observed_flows: table.flows,
            ignored_packets: self.sources.capture.not_metered(),
            not_sent_records: self.stats.not_sent.load(Relaxed),
            period_start: self.started,
            period_end: wall_now(),
        }
    }
}

fn attribute<'a>(
    attribution: &'a mut dyn Attribution,
    flows: &'a [FlowRecord],
) -> Vec<ExportRecord<'a>> {
    attribution.prepare(flows);
    flows.iter().map(|f| attribution.record(f)).collect()
}

/// The export time of a message header: seconds since 1970.
fn export_time() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}
