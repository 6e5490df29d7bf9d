//! The exporter actor: hands finished flows to its transport, which attributes, encodes
//! and sends them; holds the counters of what it sent.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix::prelude::*;

use super::attribution::Attribution;
use super::encoding::{Encoding, StatsSources};
use super::stats::ExportStats;
use super::transport::{self, Transport};
use super::Config;
use crate::flow::FlowRecord;
use crate::identity::PodIdentity;
use crate::ipfix::EncoderOptions;

/// A batch of ended flow records to export.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FinishedFlows(pub Vec<FlowRecord>);

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

pub struct Exporter {
    transport: Box<dyn Transport>,
    enc: Encoding,
}

impl Exporter {
    /// Opens the transport named by `cfg.collector`. A UDP collector name that does not
    /// resolve, or a file that cannot be created, is an error here, before anything runs.
    pub fn open(
        cfg: &Config,
        encoder: EncoderOptions,
        attribution: Box<dyn Attribution>,
        sources: StatsSources,
    ) -> io::Result<Exporter> {
        let transport = transport::open(&cfg.collector, cfg)?;
        let enc = Encoding::new(encoder, attribution, sources);
        enc.stats().set_ready(transport.ready_when_open());
        Ok(Exporter { transport, enc })
    }

    /// The exporter's counters, to share before the actor starts.
    pub fn stats(&self) -> Arc<ExportStats> {
        self.enc.stats().clone()
    }
}

impl Actor for Exporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.transport.open(&mut self.enc);
        if let Some(every) = self.transport.interval() {
            ctx.run_interval(every, |this, _| this.transport.tick(&mut this.enc));
        }
    }
}

impl Handler<FinishedFlows> for Exporter {
    type Result = ();

    fn handle(&mut self, msg: FinishedFlows, _: &mut Self::Context) {
        self.transport.send(msg.0, &mut self.enc);
    }
}

impl Handler<IdentityChanged> for Exporter {
    type Result = ();

    fn handle(&mut self, msg: IdentityChanged, _: &mut Self::Context) {
        self.enc.pod_changed(msg.0);
    }
}

impl Handler<Drain> for Exporter {
    type Result = MessageResult<Drain>;

    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> Self::Result {
        self.transport.drain(&mut self.enc);
        let stats = self.enc.stats();
        MessageResult(DrainReport {
            exported: stats.records.load(Relaxed),
            not_sent: stats.not_sent.load(Relaxed),
        })
    }
}
