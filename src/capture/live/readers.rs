//! How a probe's interfaces are opened and read, whichever namespace they are in: rings
//! given to the probe's pool of capture threads (the `ring` backend), or one pnet thread
//! per interface (`pnet`). Both run the same kernel filter: `capture.filter`, and the
//! traffic to and from the collector left out.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::reader::{OpenError, Source, SOCKET_BUFFER_BYTES};
use super::{CaptureSink, StoppableThread};
use crate::capture::config::{Backend, Config};
use crate::capture::ring::pool::{Attached, RingPool};
use crate::capture::ring::{compile, FilterError, Program, Ring, RingOptions};
use crate::flow::Meter;

/// A collector whose traffic capture leaves out: `tcp` or `udp`, and `HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportPeer {
    pub tcp: bool,
    pub addr: String,
}

/// The readers of a probe: cheap to clone, shared by every namespace it captures.
#[derive(Clone)]
pub enum Readers {
    /// One thread per interface, a system call per frame.
    Pnet { program: Arc<Program> },
    /// Rings read by the pool's threads; `fanout` rings per interface.
    Ring {
        pool: Arc<RingPool>,
        options: RingOptions,
        fanout: usize,
    },
}

/// Why the readers cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReadersError {
    #[error("capture.filter: {0}")]
    Filter(#[from] FilterError),
    #[error("cannot start the capture threads: {0}")]
    Threads(io::Error),
}

/// The filter expression run by the kernel: `filter` (empty: every frame) without the
/// traffic of the collector at `addrs`. Pure.
pub fn filter_expression(filter: &str, export: Option<(bool, &[IpAddr], u16)>) -> String {
    let mut parts = Vec::new();
    if !filter.trim().is_empty() {
        parts.push(format!("({filter})"));
    }
    if let Some((tcp, addrs, port)) = export {
        let proto = if tcp { "tcp" } else { "udp" };
        for a in addrs {
            parts.push(format!("not (host {a} and {proto} port {port})"));
        }
    }
    parts.join(" and ")
}

/// The addresses and port of `peer`, resolved now; nothing when it does not resolve.
fn resolve(peer: &ExportPeer) -> Option<(Vec<IpAddr>, u16)> {
    match peer.addr.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            let port = addrs.first()?.port();
            let mut ips: Vec<IpAddr> = addrs.iter().map(|a| a.ip()).collect();
            ips.sort();
            ips.dedup();
            Some((ips, port))
        }
        Err(e) => {
            tracing::warn!(collector = %peer.addr, error = %e, "cannot resolve the collector; its traffic is captured too");
            None
        }
    }
}

impl Readers {
    /// The readers `cfg` describes, with `threads` capture threads for rings, leaving out
    /// the traffic of `export` when `cfg.exclude_export` is set.
    pub fn start(
        cfg: &Config,
        threads: usize,
        export: Option<&ExportPeer>,
        sink: &CaptureSink,
    ) -> Result<Readers, ReadersError> {
        let resolved = export.filter(|_| cfg.exclude_export).and_then(resolve);
        let expr = filter_expression(
            &cfg.filter,
            resolved
                .as_ref()
                .zip(export)
                .map(|((ips, port), peer)| (peer.tcp, ips.as_slice(), *port)),
        );
        Ok(match cfg.backend {
            Backend::Pnet => Readers::Pnet {
                // pnet reads whole frames: no snap length, octets need them.
                program: Arc::new(compile(&expr, u32::MAX)?),
            },
            Backend::Ring => {
                // With application identity on, a TLS handshake record keeps up to
                // `handshake_snap_bytes`: a whole ClientHello.
                let handshake_snap = if sink.table.config().l7 {
                    cfg.handshake_snap_bytes.max(cfg.snap_bytes)
                } else {
                    cfg.snap_bytes
                };
                let program = Arc::new(
                    compile(&expr, cfg.snap_bytes)?.keep_handshakes(cfg.snap_bytes, handshake_snap),
                );
                let pool = RingPool::start(threads, sink.table.clone(), sink.stats.clone())
                    .map_err(ReadersError::Threads)?;
                Readers::Ring {
                    pool: Arc::new(pool),
                    options: RingOptions {
                        ring_bytes: usize::try_from(cfg.ring_bytes).unwrap_or(usize::MAX),
                        snap_bytes: handshake_snap,
                        program,
                        fanout: None,
                    },
                    fanout: cfg.fanout.max(1),
                }
            }
        })
    }

    /// Starts reading interface `name` (index `index`, observation point `point`) into
    /// `sink`; `ring_bytes` overrides the ring size of the configuration.
    pub fn open(
        &self,
        name: &str,
        index: u32,
        point: u32,
        ring_bytes: Option<usize>,
        sink: &CaptureSink,
    ) -> Result<Reading, OpenError> {
        match self {
            Readers::Pnet { program } => {
                let source =
                    Source::open_filtered(name, index, SOCKET_BUFFER_BYTES, Some(program))?;
                tracing::info!(interface = %name, index, point, receive_buffer_bytes = source.receive_buffer, "capturing (pnet)");
                let mut meter = Meter::new(sink.table.clone(), point);
                let stats = sink.stats.clone();
                let alive = Alive::new(sink.running.clone());
                let label = name.to_owned();
                let thread = StoppableThread::spawn(format!("capture-{name}"), move |stop| {
                    let _alive = alive;
                    source.run(&mut meter, &stats, &stop, |e| {
                        tracing::warn!(interface = %label, error = %e, "receive failed; still trying");
                    });
                })
                .map_err(|error| OpenError::Thread {
                    name: name.to_owned(),
                    error,
                })?;
                Ok(Reading::Thread(thread))
            }
            Readers::Ring {
                pool,
                options,
                fanout,
            } => {
                let mut options = options.clone();
                if let Some(bytes) = ring_bytes {
                    options.ring_bytes = bytes;
                }
                let mut rings = Vec::with_capacity(*fanout);
                for _ in 0..*fanout {
                    let ring = Ring::open(name, index, &options)?;
                    if *fanout > 1 && options.fanout.is_none() {
                        options.fanout =
                            Some(ring.fanout_group().map_err(|error| OpenError::Ring {
                                name: name.to_owned(),
                                error,
                            })?);
                    }
                    rings.push(ring);
                }
                tracing::info!(interface = %name, index, point, ring_bytes = rings.iter().map(Ring::bytes).sum::<usize>(), rings = rings.len(), "capturing");
                let attached = rings
                    .into_iter()
                    .map(|ring| pool.attach(ring, point, name.to_owned()))
                    .collect();
                Ok(Reading::Rings {
                    attached,
                    _alive: Alive::new(sink.running.clone()),
                })
            }
        }
    }

    /// Capture threads of the ring backend (0 for pnet, whose threads come and go with
    /// the interfaces).
    pub fn threads(&self) -> usize {
        match self {
            Readers::Pnet { .. } => 0,
            Readers::Ring { pool, .. } => pool.threads(),
        }
    }
}

/// One interface being read. Dropping it lets the interface go: the pnet thread is
/// stopped and joined, the rings' last frames metered and their counters published.
pub enum Reading {
    Thread(StoppableThread),
    Rings {
        attached: Vec<Attached>,
        _alive: Alive,
    },
}

impl Reading {
    /// What reads the interface has ended (a panic; or the pool stopped).
    pub fn is_finished(&self) -> bool {
        match self {
            Reading::Thread(t) => t.is_finished(),
            Reading::Rings { attached, .. } => attached.iter().any(Attached::is_finished),
        }
    }

    /// Asks it to stop, without waiting (the drop waits).
    pub fn signal(&self) {
        match self {
            Reading::Thread(t) => t.signal(),
            Reading::Rings { attached, .. } => attached.iter().for_each(Attached::signal),
        }
    }
}

/// Counts an interface as read from its start until it is let go (or its thread ends,
/// panic or not).
pub struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(running: Arc<AtomicUsize>) -> Alive {
        running.fetch_add(1, Ordering::Relaxed);
        Alive(running)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_traffic_is_left_out_of_the_filter() {
        let a: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
        assert_eq!(filter_expression("", None), "");
        assert_eq!(filter_expression(" tcp ", None), "( tcp )");
        assert_eq!(
            filter_expression("", Some((false, &a[..1], 4739))),
            "not (host 10.0.0.5 and udp port 4739)"
        );
        assert_eq!(
            filter_expression("icmp", Some((true, &a, 4739))),
            "(icmp) and not (host 10.0.0.5 and tcp port 4739) and not (host fd00::5 and tcp port 4739)"
        );
    }
}
