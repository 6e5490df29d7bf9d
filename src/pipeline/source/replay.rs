//! Offline input: a capture file read as fast as it goes, the packets' own timestamps
//! driving the flow clock, ending at the end of the file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use actix::Recipient;
use anyhow::Context as _;
use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::{Backpressure, Source};
use crate::capture::file::{self, FileEnd};
use crate::capture::ring::{compile, Program};
use crate::capture::{CaptureSink, PcapReader};
use crate::config::Config;
use crate::export::ExportStats;
use crate::flow::{Clock, FlushPoints, Meter};
use crate::pipeline::Failure;
use crate::telemetry::Health;

/// A capture file and the thread that reads it.
pub struct Replay {
    /// The file, as logs name it.
    name: String,
    clock: Clock,
    reader: Option<PcapReader>,
    /// `capture.filter`, when set.
    filter: Option<Program>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Told once by the reader thread how the file ended.
    done: Option<oneshot::Receiver<FileEnd>>,
    /// How it ended, when that was heard before a signal.
    end: Option<FileEnd>,
    /// The hand-off to the exporter: the reader waits while it is full.
    backpressure: Option<Backpressure>,
}

impl Replay {
    /// Opens the file; one that is not a capture podflow can read is an error here.
    /// Frames that `filter` (tcpdump's syntax; empty keeps all) leaves out are skipped.
    pub fn open(path: &Path, filter: &str) -> Result<Replay, anyhow::Error> {
        let reader = PcapReader::open(path)?;
        let filter = match filter.trim() {
            "" => None,
            text => Some(compile(text, u32::MAX).context("capture.filter")?),
        };
        Ok(Replay {
            filter,
            name: reader.name().to_owned(),
            clock: Clock::packet(),
            reader: Some(reader),
            stop: Arc::default(),
            thread: None,
            done: None,
            end: None,
            backpressure: None,
        })
    }
}

impl Source for Replay {
    fn clock(&self) -> Clock {
        self.clock.clone()
    }

    fn is_batch(&self) -> bool {
        true
    }

    fn wait_on(&mut self, backpressure: Backpressure) {
        self.backpressure = Some(backpressure);
    }

    fn start(&mut self, sink: &CaptureSink, _: Recipient<FlushPoints>) -> Result<(), Failure> {
        let Some(reader) = self.reader.take() else {
            return Ok(());
        };
        let (done_tx, done_rx) = oneshot::channel();
        let (backpressure, stop) = (self.backpressure.clone(), self.stop.clone());
        let table = sink.table.clone();
        let pace = move || {
            let Some(b) = &backpressure else { return };
            // The reader ends flows (making room in a full table) far faster than the
            // sweeper's interval: past a queue's worth, it delivers them itself.
            if table.backlog() >= b.handoff.capacity() {
                let mut ended = Vec::new();
                table.take_ended(&mut ended);
                (b.deliver)(ended);
            }
            b.handoff.wait_for_room(&stop);
        };
        let job = file::FileJob {
            reader,
            filter: self.filter.take(),
            meter: Meter::new(sink.table.clone(), 0),
            clock: self.clock.clone(),
            stats: sink.stats.clone(),
            stop: self.stop.clone(),
        };
        let thread = file::spawn(job, pace, move |end| {
            let _ = done_tx.send(end);
        })
        .context("cannot start the capture thread")
        .map_err(Failure::Runtime)?;
        self.thread = Some(thread);
        self.done = Some(done_rx);
        Ok(())
    }

    fn health(&self, _: Arc<ExportStats>) -> Option<Health> {
        None
    }

    fn announce(&self, config: &Config) {
        tracing::info!(pcap = %self.name, collector = %config.export.collector, "metering capture file");
    }

    fn ended(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(done) = self.done.as_mut() else {
                return std::future::pending().await;
            };
            self.end = Some(done.await.unwrap_or(FileEnd::Stopped));
            self.done = None;
        })
    }

    fn stop(self) -> Result<(), Failure> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread {
            let _ = thread.join();
        }
        match self.end {
            Some(FileEnd::Failed(e)) => Err(Failure::Usage(e.into())),
            _ => Ok(()),
        }
    }
}
