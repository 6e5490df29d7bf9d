//! The sidecar's live capture: the interfaces of podflow's own network namespace, under a
//! supervisor that keeps trying when capture cannot run.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use anyhow::Context as _;

use super::Source;
use crate::capture::live::{ExportPeer, Readers};
use crate::capture::{self, live, CaptureSink, SupervisedCapture};
use crate::config::Config;
use crate::export::ExportStats;
use crate::flow::{Clock, FlushPoints};
use crate::pipeline::Failure;
use crate::telemetry::Health;

/// Live capture of podflow's own interfaces, on the wall clock.
pub struct Live {
    cfg: capture::Config,
    /// The collector, whose traffic is not captured (`capture.exclude_export`).
    export: Option<ExportPeer>,
    /// When the mode started, and how long `/startupz` waits from then for capture.
    started: Instant,
    grace: Duration,
    capture: Option<SupervisedCapture>,
}

impl Live {
    /// Captures `cfg.interfaces` once started; `/startupz` answers 200 once capture runs or
    /// once `grace` has passed since `started`.
    pub fn new(
        cfg: &capture::Config,
        export: Option<ExportPeer>,
        started: Instant,
        grace: Duration,
    ) -> Live {
        Live {
            cfg: cfg.clone(),
            export,
            started,
            grace,
            capture: None,
        }
    }
}

impl Source for Live {
    fn clock(&self) -> Clock {
        Clock::Wall
    }

    fn addresses(&self) -> Vec<IpAddr> {
        live::selected_addresses(&self.cfg.interfaces)
    }

    fn start(&mut self, sink: &CaptureSink, _: Recipient<FlushPoints>) -> Result<(), Failure> {
        let readers = Readers::start(&self.cfg, self.cfg.threads, self.export.as_ref(), sink)
            .map_err(|e| Failure::Runtime(e.into()))?;
        let capture = SupervisedCapture::start(&self.cfg, sink.clone().with_readers(readers))
            .context("cannot start the capture supervisor thread")
            .map_err(Failure::Runtime)?;
        self.capture = Some(capture);
        Ok(())
    }

    fn health(&self, export: Arc<ExportStats>) -> Option<Health> {
        let state = self.capture.as_ref()?.state();
        Some(Health::capture(export).supervised(state, self.started, self.grace))
    }

    fn announce(&self, config: &Config) {
        tracing::info!(
            collector = %config.export.collector,
            telemetry = %config.telemetry.listen,
            "sidecar running"
        );
    }

    fn stop(self) -> Result<(), Failure> {
        if let Some(capture) = self.capture {
            capture.stop();
        }
        Ok(())
    }
}
