//! The shared flow table: the hot path that meters packets into flows, and the rules that
//! end them (IPFIX.md "Flow keys" and flowEndReason).
//!
//! The live flows are spread over shards by the hash of their canonical key; each shard
//! is a mutex over two stores, IPv4 and IPv6 (`store`), whose entries are 88 and 112
//! bytes and never move, behind an index of 8-byte slots. In biflow mode the two
//! endpoints of the key are ordered, so both directions of a conversation find the same
//! entry with one hash and one shard lock, and the entry remembers which side started
//! it. Per packet: one hash, one uncontended lock, no allocation (a new flow takes a
//! free entry or the next one of its chunk).
//!
//! Every end rule is a due time derived from packet times, so the outcome does not depend on
//! when [`FlowTable::sweep`] runs: a packet that finds its flow already due ends it inline and
//! starts a new one, and the ended record waits in its shard until the next sweep. Sweeps
//! and flushes hand their records over in batches of at most [`BATCH`], so that ending a
//! million flows at once never builds one list of them all.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use self::entry::Flow;
use self::store::{FamilyKey, Found, Key4, Key6, Store};
use super::app::Wants;
use super::key::{FlowKey, Nanos, Packet};
use super::record::{EndReason, FlowRecord};

mod entry;
mod groups;
mod meter;
mod store;
mod sweep;

pub use groups::{Groups, GROUPS};

#[cfg(test)]
mod tests;

/// Most records handed over at once by a sweep or a flush.
pub const BATCH: usize = 4096;
/// Packets metered together by [`FlowTable::update_batch`].
pub const MAX_BATCH: usize = 64;
/// Most shards (a shard number fits a byte).
const MAX_SHARDS: usize = 64;

/// What metering a packet did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Metered {
    /// Counted in its live flow.
    Live,
    /// Started a flow.
    New,
    /// Its flow would be new, and its group holds its share: not metered.
    Refused,
    /// Its flow would be new, and the table is full.
    Full,
}

/// A packet's canonical key, its hash and shard, and whether its endpoints were swapped.
#[derive(Clone, Copy, Default)]
struct Prepared {
    key: FlowKey,
    hash: u64,
    swapped: bool,
    shard: u8,
}

/// Timeouts and limits of a [`FlowTable`], in packet-time nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// End a flow after this long without packets.
    pub idle_timeout: Nanos,
    /// Export a flow in pieces, one each time its current piece has lasted this long.
    pub active_timeout: Nanos,
    /// After both FINs (or a RST), end the flow once this long passes without packets.
    pub tcp_end_linger: Nanos,
    /// Upper bound on live flows (at least 1).
    pub max_flows: usize,
    /// Ended records that wait for the next sweep, at most (about: each shard holds its
    /// share); past it they are handed to the spill (see [`FlowTable::spill_to`]).
    pub max_backlog: usize,
    /// RFC 5103 bidirectional flows (true) or one flow per direction (false).
    pub biflow: bool,
    /// Follow each TCP flow's network performance (round trip, retransmissions, ...).
    pub npm: bool,
    /// Read application identity (DNS, HTTP, TLS) from the first payloads of flows.
    pub l7: bool,
}

/// Cumulative counters of a [`FlowTable`] since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Packets metered.
    pub packets: u64,
    /// IP octets metered.
    pub octets: u64,
    /// Flows started (IPFIX observedFlowTotalCount).
    pub flows: u64,
    /// Records ended, indexed by `EndReason as usize - 1`; see [`TableStats::ended`].
    pub ended: [u64; 5],
    /// Flows ended early because the table was full (with or without a record).
    pub evictions: u64,
    /// Of those, flows that looked like noise (one packet, never answered).
    pub evicted_noise: u64,
}

impl TableStats {
    /// Records ended with `reason`.
    pub fn ended(&self, reason: EndReason) -> u64 {
        self.ended[reason as usize - 1]
    }
}

/// The live flows, shared by the capture threads (through [`FlowTable::update`]) and the
/// sweeper (through [`FlowTable::sweep`] and [`FlowTable::flush`]).
pub struct FlowTable {
    cfg: FlowTableConfig,
    shards: Box<[Mutex<Shard>]>,
    /// `64 - log2(shards.len())`: the top bits of a hash pick the shard.
    shard_shift: u32,
    hasher: foldhash::fast::RandomState,
    /// Live flows, including slots reserved by inserts in progress.
    live: AtomicUsize,
    /// The lock lets one thread evict at a time; the ranks of the flows, reused.
    evicting: Mutex<Vec<u64>>,
    ended_counts: [AtomicU64; 5],
    evictions: AtomicU64,
    evicted_noise: AtomicU64,
    /// Ended records a shard holds at most before it hands them to `spill`.
    shard_backlog: usize,
    /// Where a shard's ended records go when it holds too many (the exporter's queue);
    /// unset, they wait for the sweep however many they are.
    spill: OnceLock<Spill>,
    /// Shares of the live flows per group of points (node mode: per pod namespace).
    groups: Groups,
}

/// Takes ended records that cannot wait for the next sweep.
pub type Spill = Box<dyn Fn(Vec<FlowRecord>) + Send + Sync>;

/// One shard: its flows, the records `update` ended since the last sweep, its counters.
struct Shard {
    v4: Store<Key4>,
    v6: Store<Key6>,
    ended: Vec<FlowRecord>,
    packets: u64,
    octets: u64,
    flows: u64,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            v4: Store::new(),
            v6: Store::new(),
            ended: Vec::new(),
            packets: 0,
            octets: 0,
            flows: 0,
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Collects records into batches of at most [`BATCH`] and hands each full one over.
struct Batcher<'a> {
    batch: Vec<FlowRecord>,
    emit: &'a mut dyn FnMut(Vec<FlowRecord>),
}

impl Batcher<'_> {
    #[inline]
    fn push(&mut self, r: FlowRecord) {
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(BATCH);
        }
        self.batch.push(r);
        if self.batch.len() == BATCH {
            (self.emit)(std::mem::take(&mut self.batch));
        }
    }

    fn finish(mut self) {
        if !self.batch.is_empty() {
            (self.emit)(std::mem::take(&mut self.batch));
        }
    }
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowTableConfig) -> FlowTable {
        let cfg = FlowTableConfig {
            max_flows: cfg.max_flows.max(1),
            ..cfg
        };
        let shards = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .saturating_mul(8)
            .next_power_of_two()
            .clamp(2, MAX_SHARDS);
        FlowTable {
            cfg,
            shards: (0..shards).map(|_| Mutex::new(Shard::new())).collect(),
            shard_shift: 64 - shards.trailing_zeros(),
            hasher: foldhash::fast::RandomState::default(),
            live: AtomicUsize::new(0),
            evicting: Mutex::default(),
            ended_counts: Default::default(),
            evictions: AtomicU64::new(0),
            evicted_noise: AtomicU64::new(0),
            shard_backlog: cfg.max_backlog.div_ceil(shards).max(1),
            spill: OnceLock::new(),
            groups: Groups::new(),
        }
    }

    /// From now on, a shard that holds more than its share of `max_backlog` ended records
    /// hands them to `spill` at once (outside its lock), rather than keep them for the
    /// sweep. Set once; later calls are ignored.
    pub fn spill_to(&self, spill: Spill) {
        let _ = self.spill.set(spill);
    }

    /// The shard's ended records, when there are more than it may keep and a spill takes
    /// them.
    #[inline]
    fn overflow(&self, shard: &mut Shard) -> Option<Vec<FlowRecord>> {
        if shard.ended.len() < self.shard_backlog || self.spill.get().is_none() {
            return None;
        }
        Some(std::mem::take(&mut shard.ended))
    }

    /// Hands `records` (taken by [`FlowTable::overflow`]) to the spill; call it with no
    /// lock held.
    #[cold]
    fn spill(&self, records: Option<Vec<FlowRecord>>) {
        if let (Some(records), Some(spill)) = (records, self.spill.get()) {
            spill(records);
        }
    }

    /// The groups of points and their shares of the live flows.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// The configuration in force (`max_flows` raised to at least 1).
    pub fn config(&self) -> &FlowTableConfig {
        &self.cfg
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.live.load(Relaxed)
    }

    /// No live flow.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cumulative counters.
    pub fn stats(&self) -> TableStats {
        let mut stats = TableStats {
            evictions: self.evictions.load(Relaxed),
            evicted_noise: self.evicted_noise.load(Relaxed),
            ..TableStats::default()
        };
        for shard in self.shards.iter() {
            let s = lock(shard);
            stats.packets += s.packets;
            stats.octets += s.octets;
            stats.flows += s.flows;
        }
        for (n, c) in stats.ended.iter_mut().zip(&self.ended_counts) {
            *n = c.load(Relaxed);
        }
        stats
    }

    /// The key under which `key`'s flow lives, and whether its endpoints were swapped to get
    /// it. Biflow mode orders the endpoints (except for ICMP, whose directions never pair).
    #[inline]
    fn canonical(&self, key: &FlowKey) -> (FlowKey, bool) {
        if self.cfg.biflow && !key.is_icmp() && (key.src, key.src_port) > (key.dst, key.dst_port) {
            (key.reversed(), true)
        } else {
            (*key, false)
        }
    }

    #[inline]
    fn hash(&self, key: &FlowKey) -> u64 {
        let mut h = self.hasher.build_hasher();
        if key.ipv6 {
            h.write_u128(key.src);
            h.write_u128(key.dst);
        } else {
            h.write_u64((key.src as u64) << 32 | key.dst as u64);
        }
        h.write_u64(
            u64::from(key.src_port) | u64::from(key.dst_port) << 16 | u64::from(key.point) << 32,
        );
        h.write_u32(u32::from(key.vlan) | u32::from(key.proto) << 16 | u32::from(key.ipv6) << 24);
        h.finish()
    }

    /// Takes a slot for a new flow if the table has room.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < self.cfg.max_flows).then_some(n + 1)
            })
            .is_ok()
    }
}
