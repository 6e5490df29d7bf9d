//! The exporter actor: takes batches of finished flows from the hand-off and gives them to
//! its transport, which attributes, encodes and sends them; holds the counters of what it
//! sent.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::attribution::Attribution;
use super::encoding::{Encoding, StatsSources};
use super::handoff::{Handoff, Overflow};
use super::stats::ExportStats;
use super::transport::{self, Transport};
use super::Config;
use crate::identity::PodIdentity;
use crate::ipfix::EncoderOptions;

/// Batches wait in the hand-off. Sent once when it goes from empty to not empty; the
/// exporter then takes batches until it is empty.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// The pod identity changed (labels or annotations files were rewritten).
#[derive(Message)]
#[rtype(result = "()")]
pub struct IdentityChanged(pub Arc<PodIdentity>);

/// Send what is left in the hand-off and the transport, write the final options record
/// and close the transport. What cannot be sent by `until` (a live probe's
/// `export.drain_timeout_secs`; none for a batch job) is counted as not sent.
#[derive(Message)]
#[rtype(result = "DrainReport")]
pub struct Drain {
    pub until: Option<Instant>,
}

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
    handoff: Arc<Handoff>,
}

impl Exporter {
    /// Opens the transport named by `cfg.collector`, and the hand-off of
    /// `export.queue_records` records. `batch`: a capture file is read, so nothing is
    /// dropped for want of room, the reader waits instead, and stdout may block. A UDP
    /// collector name that does not resolve, or a file that cannot be created, is an error
    /// here, before anything runs.
    pub fn open(
        cfg: &Config,
        encoder: EncoderOptions,
        attribution: Box<dyn Attribution>,
        sources: StatsSources,
        batch: bool,
    ) -> io::Result<Exporter> {
        let transport = transport::open(&cfg.collector, cfg, batch)?;
        let enc = Encoding::new(encoder, attribution, sources);
        enc.stats().set_ready(transport.ready_when_open());
        let overflow = if batch {
            Overflow::Wait
        } else {
            Overflow::Drop
        };
        let handoff = Arc::new(Handoff::new(
            cfg.queue_records,
            overflow,
            enc.stats().clone(),
        ));
        Ok(Exporter {
            transport,
            enc,
            handoff,
        })
    }

    /// The exporter's counters, to share before the actor starts.
    pub fn stats(&self) -> Arc<ExportStats> {
        self.enc.stats().clone()
    }

    /// The hand-off the sweeper fills, to share before the actor starts.
    pub fn handoff(&self) -> Arc<Handoff> {
        self.handoff.clone()
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

impl Handler<Wake> for Exporter {
    type Result = ();

    /// One batch at a time, so that the transport's ticks (reconnects, template refresh)
    /// and other messages run between batches.
    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        if let Some((batch, more)) = self.handoff.pop() {
            self.transport.send(batch, &mut self.enc);
            if more {
                ctx.notify(Wake);
            }
        }
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

    fn handle(&mut self, msg: Drain, _: &mut Self::Context) -> Self::Result {
        while let Some((batch, _)) = self.handoff.pop() {
            if msg.until.is_some_and(|t| Instant::now() >= t) {
                self.enc.stats().lost(batch.len() as u64);
            } else {
                self.transport.send(batch, &mut self.enc);
            }
        }
        self.transport.drain(&mut self.enc, msg.until);
        let stats = self.enc.stats();
        MessageResult(DrainReport {
            exported: stats.records.load(Relaxed),
            not_sent: stats.not_sent.load(Relaxed),
        })
    }
}
