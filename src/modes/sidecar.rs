//! Sidecar mode: the pod's own traffic, attributed to the pod. Captures the pod's
//! interfaces live, or meters `capture.pcap` offline. Live capture is supervised: when it
//! cannot run the sidecar stays up, `/readyz` says why and capture starts as soon as it
//! can.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::pipeline::{self, export_peer, Failure, Live, Pipeline, Replay, SidecarPod, Source};

pub fn run(config: Config) -> Result<(), Failure> {
    // The startup grace counts from here, not from when the listener is up.
    let started = Instant::now();
    let pod = SidecarPod::load(&config.k8s);
    match &config.capture.pcap {
        Some(path) => {
            let replay = Replay::open(path, &config.capture.filter).map_err(Failure::Usage)?;
            probe(&config, replay, pod)
        }
        None => {
            let grace = Duration::from_secs(config.telemetry.startup_grace_secs);
            let export = export_peer(&config.export.collector);
            probe(
                &config,
                Live::new(&config.capture, export, started, grace),
                pod,
            )
        }
    }
}

/// Runs the probe from `source` until a signal or the end of its input.
fn probe(config: &Config, source: impl Source, pod: SidecarPod) -> Result<(), Failure> {
    pipeline::block_on(async move {
        let mut probe = Pipeline::new(config).start(source, pod)?;
        probe.run_until_signal().await;
        probe.shutdown().await.map(drop)
    })
}
