//! The exporter actor: enriches finished flows, encodes them and owns the transport.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Stdout, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;

use super::enrich::Enricher;
use super::{json, transport, Collector, Config};
use crate::capture::CaptureStats;
use crate::flow::{wall_now, FinishedFlows, FlowRecord, FlowTable, Nanos};
use crate::ipfix::{Counts, Encoder, EncoderOptions};
use crate::metadata::PodIdentity;
use crate::telemetry::events;

/// The pod identity changed (labels or annotations files were rewritten).
#[derive(Message)]
#[rtype(result = "()")]
pub struct IdentityChanged(pub Arc<PodIdentity>);

/// Send what is left, write the final options record and close the transport.
#[derive(Message)]
#[rtype(result = "DrainReport")]
pub struct Drain;

/// What the exporter did over its whole life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Flow records handed to the transport.
    pub exported: u64,
    /// Flow records that could not be sent (collector down, buffer full, write errors).
    pub not_sent: u64,
}

/// Everything the exporter reads to fill the options record.
#[derive(Clone)]
pub struct StatsSources {
    pub table: Arc<FlowTable>,
    pub capture: Arc<CaptureStats>,
}

/// How the exporter reaches its collector.
enum Output {
    Json(BufWriter<Stdout>),
    Udp(UdpSocket),
    File(BufWriter<std::fs::File>),
    Tcp(TcpLink),
}

/// A TCP collector, with the records that wait while it is unreachable.
struct TcpLink {
    addr: String,
    stream: Option<TcpStream>,
    pending: VecDeque<FlowRecord>,
    capacity: usize,
    backoff: Duration,
    max_backoff: Duration,
    retry_at: Instant,
}

/// What the exporter has done since start, shared with metrics and health checks.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// IPFIX messages sent (or JSON lines written).
    pub messages: AtomicU64,
    /// Flow records handed to the transport.
    pub records: AtomicU64,
    /// Bytes of the messages sent.
    pub octets: AtomicU64,
    /// Flow records that could not be sent: collector down, buffer full, write errors.
    pub not_sent: AtomicU64,
    /// True while the transport can take records (a TCP collector is connected; UDP,
    /// file and stdout always, once open).
    pub ready: AtomicBool,
}

impl ExportStats {
    fn sent(&self, msg_bytes: usize, records: u64) {
        self.messages.fetch_add(1, Relaxed);
        self.records.fetch_add(records, Relaxed);
        self.octets.fetch_add(msg_bytes as u64, Relaxed);
    }

    fn lost(&self, records: u64) {
        self.not_sent.fetch_add(records, Relaxed);
    }
}

pub struct Exporter {
    output: Output,
    encoder: Encoder,
    enrich: Enricher,
    biflow: bool,
    sources: StatsSources,
    stats: Arc<ExportStats>,
    started: Nanos,
    template_refresh: Duration,
}

impl Exporter {
    /// Opens the transport named by `cfg.collector`. A UDP collector name that does not
    /// resolve, or a file that cannot be created, is an error here, before anything runs.
    pub fn open(
        cfg: &Config,
        encoder: EncoderOptions,
        enrich: Enricher,
        sources: StatsSources,
    ) -> io::Result<Exporter> {
        let output = match &cfg.collector {
            Collector::Stdout => Output::Json(BufWriter::with_capacity(1 << 16, io::stdout())),
            Collector::Udp(addr) => Output::Udp(transport::udp(addr)?),
            Collector::File(path) => Output::File(transport::file(path)?),
            Collector::Tcp(addr) => Output::Tcp(TcpLink {
                addr: addr.clone(),
                stream: None,
                pending: VecDeque::new(),
                capacity: cfg.buffer_records,
                backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(cfg.reconnect_max_backoff_secs.max(1)),
                retry_at: Instant::now(),
            }),
            Collector::Tls(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "tls:// export is not available in this build; use tcp:// or udp://",
                ))
            }
        };
        let stats = Arc::new(ExportStats::default());
        stats
            .ready
            .store(!matches!(output, Output::Tcp(_)), Relaxed);
        Ok(Exporter {
            output,
            biflow: encoder.biflow,
            encoder: Encoder::new(encoder),
            enrich,
            sources,
            stats,
            started: wall_now(),
            template_refresh: Duration::from_secs(cfg.template_refresh_secs.max(1)),
        })
    }

    /// The exporter's counters, to share before the actor starts.
    pub fn stats(&self) -> Arc<ExportStats> {
        self.stats.clone()
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

    /// Templates and an options record: at start, on every refresh, after a reconnect.
    fn control_messages(&mut self) -> [Vec<u8>; 2] {
        let t = export_time();
        let templates = self.encoder.templates(t);
        let counts = self.counts();
        [templates, self.encoder.options(&counts, t)]
    }

    /// Sends templates and the options record on UDP or a file. TCP does it per connection.
    fn send_control(&mut self) {
        if matches!(self.output, Output::Json(_) | Output::Tcp(_)) {
            return;
        }
        for msg in self.control_messages() {
            // Control messages carry one options record; it counts like any data record.
            if self.write(&msg).is_ok() {
                self.stats.sent(msg.len(), 0);
            }
        }
    }

    /// Writes one message on a datagram or file output.
    fn write(&mut self, msg: &[u8]) -> io::Result<()> {
        use transport::MessageSink;
        let result = match &mut self.output {
            Output::Udp(s) => s.send_message(msg),
            Output::File(f) => f.send_message(msg),
            Output::Tcp(_) | Output::Json(_) => Ok(()),
        };
        if let Err(e) = &result {
            events::ExportError {
                collector: self.collector_name(),
                error: e,
            }
            .emit();
        }
        result
    }

    fn collector_name(&self) -> &str {
        match &self.output {
            Output::Json(_) => "stdout",
            Output::Udp(_) => "udp",
            Output::File(_) => "file",
            Output::Tcp(l) => &l.addr,
        }
    }

    fn export(&mut self, flows: Vec<FlowRecord>) {
        // TCP queues the flows and enriches each chunk it sends; the others enrich now.
        if !matches!(self.output, Output::Tcp(_)) {
            self.enrich.prepare(&flows);
        }
        match &mut self.output {
            Output::Json(out) => {
                let mut failed = 0;
                for f in &flows {
                    if json::write_record(out, &self.enrich.record(f), self.biflow).is_err() {
                        failed += 1;
                    }
                }
                let flushed = out.flush();
                self.stats
                    .messages
                    .fetch_add((flows.len() - failed) as u64, Relaxed);
                self.stats
                    .records
                    .fetch_add((flows.len() - failed) as u64, Relaxed);
                self.stats.lost(failed as u64);
                if let Err(e) = flushed {
                    events::ExportError {
                        collector: "stdout",
                        error: &e,
                    }
                    .emit();
                }
            }
            Output::Udp(_) | Output::File(_) => {
                let records: Vec<_> = flows.iter().map(|f| self.enrich.record(f)).collect();
                for msg in self.encoder.records(&records, export_time()) {
                    let n = u64::from(msg.records);
                    match self.write(&msg.bytes) {
                        Ok(()) => self.stats.sent(msg.bytes.len(), n),
                        Err(_) => self.stats.lost(n),
                    }
                }
            }
            Output::Tcp(link) => {
                for f in flows {
                    if link.pending.len() >= link.capacity {
                        link.pending.pop_front();
                        self.stats.lost(1);
                    }
                    link.pending.push_back(f);
                }
                self.flush_tcp();
            }
        }
    }

    /// Connects if due, then sends everything pending on the TCP link.
    fn flush_tcp(&mut self) {
        let Output::Tcp(link) = &mut self.output else {
            return;
        };
        if link.stream.as_ref().is_some_and(transport::peer_closed) {
            events::CollectorClosed { addr: &link.addr }.emit();
            link.stream = None;
            self.stats.ready.store(false, Relaxed);
            link.retry_at = Instant::now();
        }
        if link.stream.is_none() {
            if Instant::now() < link.retry_at {
                return;
            }
            match transport::tcp(&link.addr) {
                Ok(stream) => {
                    events::CollectorConnected { addr: &link.addr }.emit();
                    link.stream = Some(stream);
                    self.stats.ready.store(true, Relaxed);
                    link.backoff = Duration::from_secs(1);
                    self.encoder.reset_session();
                    let control = self.control_messages();
                    for msg in control {
                        if !self.tcp_write(&msg) {
                            return;
                        }
                        self.stats.sent(msg.len(), 0);
                    }
                }
                Err(e) => {
                    events::CollectorUnreachable {
                        addr: &link.addr,
                        error: &e,
                        retry_in: link.backoff,
                    }
                    .emit();
                    link.retry_at = Instant::now() + link.backoff;
                    link.backoff = (link.backoff * 2).min(link.max_backoff);
                    return;
                }
            }
        }
        loop {
            let Output::Tcp(link) = &mut self.output else {
                return;
            };
            if link.pending.is_empty() {
                return;
            }
            // Encode a bounded chunk so a long backlog does not build one huge batch.
            let take = link.pending.len().min(4096);
            let chunk: Vec<FlowRecord> = link.pending.iter().take(take).copied().collect();
            self.enrich.prepare(&chunk);
            let records: Vec<_> = chunk.iter().map(|f| self.enrich.record(f)).collect();
            for msg in self.encoder.records(&records, export_time()) {
                if !self.tcp_write(&msg.bytes) {
                    // The records of the failed message stay pending for the next connection.
                    return;
                }
                let Output::Tcp(link) = &mut self.output else {
                    return;
                };
                link.pending.drain(..msg.records as usize);
                self.stats.sent(msg.bytes.len(), u64::from(msg.records));
            }
        }
    }

    /// Writes on the TCP stream; on failure drops the connection and schedules a retry.
    fn tcp_write(&mut self, msg: &[u8]) -> bool {
        use transport::MessageSink;
        let Output::Tcp(link) = &mut self.output else {
            return false;
        };
        let Some(stream) = link.stream.as_mut() else {
            return false;
        };
        match stream.send_message(msg) {
            Ok(()) => true,
            Err(e) => {
                events::ExportError {
                    collector: &link.addr,
                    error: &e,
                }
                .emit();
                link.stream = None;
                self.stats.ready.store(false, Relaxed);
                link.retry_at = Instant::now() + link.backoff;
                false
            }
        }
    }

    fn drain(&mut self) -> DrainReport {
        if let Output::Tcp(link) = &mut self.output {
            // One last attempt now, whatever the backoff says.
            link.retry_at = Instant::now();
            self.flush_tcp();
            if let Output::Tcp(link) = &mut self.output {
                self.stats.lost(link.pending.len() as u64);
                link.pending.clear();
                if link.stream.is_some() {
                    let counts = self.counts();
                    let msg = self.encoder.options(&counts, export_time());
                    if self.tcp_write(&msg) {
                        self.stats.sent(msg.len(), 0);
                    }
                }
            }
        } else if !matches!(self.output, Output::Json(_)) {
            let counts = self.counts();
            let msg = self.encoder.options(&counts, export_time());
            if self.write(&msg).is_ok() {
                self.stats.sent(msg.len(), 0);
            }
        }
        let flushed = match &mut self.output {
            Output::File(f) => transport::MessageSink::flush_messages(f),
            Output::Json(out) => out.flush(),
            _ => Ok(()),
        };
        if let Err(e) = flushed {
            events::ExportError {
                collector: self.collector_name(),
                error: &e,
            }
            .emit();
        }
        DrainReport {
            exported: self.stats.records.load(Relaxed),
            not_sent: self.stats.not_sent.load(Relaxed),
        }
    }
}

fn export_time() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

impl Actor for Exporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.send_control();
        if matches!(self.output, Output::Udp(_)) {
            let template_refresh = self.template_refresh;
            ctx.run_interval(template_refresh, |this, _| this.send_control());
        }
        if matches!(self.output, Output::Tcp(_)) {
            self.flush_tcp();
            let reconnect_check = Duration::from_millis(500);
            ctx.run_interval(reconnect_check, |this, _| this.flush_tcp());
        }
    }
}

impl Handler<FinishedFlows> for Exporter {
    type Result = ();

    fn handle(&mut self, msg: FinishedFlows, _: &mut Self::Context) {
        self.export(msg.0);
    }
}

impl Handler<IdentityChanged> for Exporter {
    type Result = ();

    fn handle(&mut self, msg: IdentityChanged, _: &mut Self::Context) {
        self.enrich.pod = msg.0;
    }
}

impl Handler<Drain> for Exporter {
    type Result = MessageResult<Drain>;

    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.drain())
    }
}
