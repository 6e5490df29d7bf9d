//! Node mode's source: every pod network namespace of the node and the node's own
//! interfaces, captured from the node thread.

use std::sync::Arc;

use actix::Recipient;

use super::Source;
use crate::capture::live::{ExportPeer, Readers};
use crate::capture::{self, CaptureSink};
use crate::config::Config;
use crate::export::ExportStats;
use crate::flow::{Clock, FlushPoints};
use crate::metadata::SharedIndex;
use crate::node::{self, NodeCapture, SharedNamespaces};
use crate::pipeline::Failure;
use crate::telemetry::{Health, Registry};

/// The namespaces of the node, on the wall clock.
pub struct Namespaces {
    cfg: node::Config,
    capture_cfg: capture::Config,
    export: Option<ExportPeer>,
    index: SharedIndex,
    namespaces: SharedNamespaces,
    capture: Option<NodeCapture>,
}

impl Namespaces {
    /// Captures the namespaces `cfg` finds, describing them in `namespaces` and resolving
    /// their pods through `index`.
    pub fn new(
        cfg: &node::Config,
        capture: &capture::Config,
        export: Option<ExportPeer>,
        index: SharedIndex,
        namespaces: SharedNamespaces,
    ) -> Self {
        Namespaces {
            cfg: cfg.clone(),
            capture_cfg: capture.clone(),
            export,
            index,
            namespaces,
            capture: None,
        }
    }
}

impl Source for Namespaces {
    fn clock(&self) -> Clock {
        Clock::Wall
    }

    fn start(&mut self, sink: &CaptureSink, flush: Recipient<FlushPoints>) -> Result<(), Failure> {
        let readers = Readers::start(
            &self.capture_cfg,
            self.cfg.threads(),
            self.export.as_ref(),
            sink,
        )
        .map_err(|e| Failure::Runtime(e.into()))?;
        let capture = NodeCapture::start(
            &self.cfg,
            sink.clone().with_readers(readers),
            self.index.clone(),
            self.namespaces.clone(),
            move |points| flush.do_send(FlushPoints(points)),
        )
        .map_err(|e| Failure::Usage(e.into()))?;
        self.capture = Some(capture);
        Ok(())
    }

    fn health(&self, export: Arc<ExportStats>) -> Option<Health> {
        let stats = self.capture.as_ref()?.stats();
        Some(Health::capture(export).watching(stats))
    }

    fn register(&self, metrics: &mut Registry) {
        if let Some(capture) = &self.capture {
            capture.stats().register(metrics);
        }
    }

    fn announce(&self, config: &Config) {
        tracing::info!(
            collector = %config.export.collector,
            telemetry = %config.telemetry.listen,
            netns_dirs = ?config.node.netns_dirs,
            "capturing every network namespace of the node"
        );
    }

    fn stop(self) -> Result<(), Failure> {
        if let Some(capture) = self.capture {
            capture.stop();
        }
        Ok(())
    }
}
