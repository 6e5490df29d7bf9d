//! The offline source: one named thread reads a pcap/pcapng file as fast as it can,
//! decodes each frame and meters it. Packet timestamps drive the flow clock; octets come
//! from the IP length or each record's original length, never from its captured length;
//! `capture.filter` is run in user space, as the kernel runs it on live frames.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::decode;
use super::pcap::{PcapError, PcapReader};
use super::ring::Program;
use super::stats::{CaptureStats, LocalStats};
use crate::flow::{Clock, Meter, MAX_BATCH};

/// How a file source ended.
#[derive(Debug)]
pub enum FileEnd {
    /// Read to the end (a cut-off last record counts as the end, with a warning).
    Eof,
    /// Asked to stop (signal).
    Stopped,
    /// The file could not be read on.
    Failed(PcapError),
}

/// Publish counters to the shared stats every this many frames.
const PUBLISH_EVERY: u64 = 1 << 14;

/// What the reader thread reads, meters and counts into.
pub struct FileJob {
    pub reader: PcapReader,
    /// `capture.filter`, run in user space; `None` keeps every frame.
    pub filter: Option<Program>,
    pub meter: Meter,
    /// The flow clock the packets' timestamps move.
    pub clock: Clock,
    pub stats: Arc<CaptureStats>,
    /// Set to stop reading (a signal).
    pub stop: Arc<AtomicBool>,
}

/// Starts the reader thread on `job`. `pace` is called every few thousand frames and may
/// block (while the exporter is behind); `done` is called once, from that thread, when it
/// ends.
pub fn spawn(
    mut job: FileJob,
    pace: impl Fn() + Send + 'static,
    done: impl FnOnce(FileEnd) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("capture-pcap".into())
        .spawn(move || {
            let mut progress = Progress::new(show_progress());
            let end = run(&mut job, &pace, &mut progress);
            progress.finish(&job.stats, job.meter.table().len());
            done(end);
        })
}

fn run(job: &mut FileJob, pace: &dyn Fn(), progress: &mut Progress) -> FileEnd {
    let FileJob {
        reader,
        filter,
        meter,
        clock,
        stats,
        stop,
    } = job;
    let filter = filter.as_ref();
    let mut local = LocalStats::default();
    // Frames of a pcapng interface whose link type podflow cannot decode are skipped and
    // counted; only a file with nothing else in it is an error.
    let mut unsupported: Option<PcapError> = None;
    let mut latest = 0;
    let end = loop {
        if !reader.next_is_buffered() {
            // The next frame may have to wait for the input: what has come so far is
            // metered and the clock moved first, so that a slow stream's flows still end.
            meter.flush();
            clock.advance(latest);
        }
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break FileEnd::Eof,
            Err(e @ PcapError::UnsupportedLinkType { .. }) => {
                local.frames += 1;
                local.ignored += 1;
                if unsupported.is_none() {
                    tracing::warn!(error = %e, "skipping the frames of an interface podflow cannot decode");
                    unsupported = Some(e);
                }
                continue;
            }
            Err(PcapError::Truncated { file, offset }) => {
                tracing::warn!(
                    file,
                    offset,
                    "capture file ends inside a record; metered what came before"
                );
                break FileEnd::Eof;
            }
            Err(e) => break FileEnd::Failed(e),
        };
        if filter.is_some_and(|f| !f.matches(frame.link, frame.data, frame.orig_len)) {
            continue;
        }
        local.frames += 1;
        latest = latest.max(frame.ts);
        match decode::decode_frame(frame.link, frame.data, frame.orig_len) {
            Ok(pkt) => {
                local.metered += 1;
                meter.push(pkt, frame.ts, frame.data);
            }
            Err(_) => local.ignored += 1,
        }
        if local.frames % MAX_BATCH as u64 == 0 {
            // The clock moves only past packets that are in the table, so that a sweep
            // never ends a flow before a packet of it that waits in the batch.
            meter.flush();
            clock.advance(latest);
        }
        if local.frames >= PUBLISH_EVERY {
            local.publish(stats);
            pace();
            if stop.load(Ordering::Relaxed) {
                break FileEnd::Stopped;
            }
            progress.tick(stats, meter.table().len());
        }
    };
    meter.flush();
    clock.advance(latest);
    local.publish(stats);
    match (end, unsupported) {
        (FileEnd::Eof, Some(e)) if stats.metered.load(Ordering::Relaxed) == 0 => FileEnd::Failed(e),
        (end, _) => end,
    }
}

/// Progress on a terminal: packets, live flows and rate, at most once a second. Quiet
/// when stderr is not a terminal or when running under CI.
struct Progress {
    on: bool,
    started: Instant,
    last: Instant,
}

fn show_progress() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

impl Progress {
    fn new(on: bool) -> Self {
        let now = Instant::now();
        Progress {
            on,
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, stats: &CaptureStats, flows: usize) {
        if !self.on || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        self.print(stats, flows, "\r");
    }

    fn finish(&mut self, stats: &CaptureStats, flows: usize) {
        if self.on && self.started.elapsed() >= Duration::from_secs(1) {
            self.print(stats, flows, "\r");
            eprintln!();
        }
    }

    fn print(&self, stats: &CaptureStats, flows: usize, lead: &str) {
        let frames = stats.frames.load(Ordering::Relaxed);
        let rate = frames as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = if rate >= 1e6 {
            format!("{:.2} Mpkt/s", rate / 1e6)
        } else {
            format!("{rate:.0} pkt/s")
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{lead}{frames} packets  {flows} live flows  {rate}   ");
        let _ = err.flush();
    }
}
