//! The shared flow table: the hot path that meters packets into flows, and the rules that
//! end them (IPFIX.md "Flow keys" and flowEndReason).
//!
//! One [`DashMap`] holds the live flows under a canonical key: in biflow mode the two
//! endpoints are ordered, so both directions of a conversation find the same entry with one
//! hash and one shard lock, and the entry remembers which side started it. The hash is
//! computed once per packet and handed to the map as is.
//!
//! Every end rule is a due time derived from packet times, so the outcome does not depend on
//! when [`FlowTable::sweep`] runs: a packet that finds its flow already due ends it inline and
//! starts a new one, and the ended record waits in a list that the next sweep drains.

use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use self::entry::Flow;
use super::key::{FlowKey, Nanos, Packet};
use super::record::{EndReason, FlowRecord};

mod entry;
#[cfg(test)]
mod tests;

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
    /// RFC 5103 bidirectional flows (true) or one flow per direction (false).
    pub biflow: bool,
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
    map: DashMap<TableKey, Flow, BuildHasherDefault<PrehashedHasher>>,
    hasher: foldhash::fast::RandomState,
    /// Packet counters, one per map shard, so they are only written under that shard's lock.
    stripes: Box<[Stripe]>,
    /// `usize::BITS - log2(stripes.len())`, as the map uses it to pick a shard.
    stripe_shift: u32,
    /// Live flows, including slots reserved by inserts in progress.
    live: AtomicUsize,
    /// Records ended by `update` since the last sweep.
    ended: Mutex<Vec<FlowRecord>>,
    /// Buffers of an eviction pass; the lock lets one thread evict at a time.
    evict_scratch: Mutex<EvictScratch>,
    ended_counts: [AtomicU64; 5],
    evictions: AtomicU64,
}

/// The canonical key with its hash, so the map never hashes a key again.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TableKey {
    hash: u64,
    key: FlowKey,
}

impl Hash for TableKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes the precomputed hash of a [`TableKey`] through.
#[derive(Default)]
struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

/// Per-shard packet counters, on their own cache line.
#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    packets: AtomicU64,
    octets: AtomicU64,
    flows: AtomicU64,
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
            .saturating_mul(4)
            .next_power_of_two()
            .max(2);
        FlowTable {
            cfg,
            map: DashMap::with_capacity_and_hasher_and_shard_amount(
                0,
                BuildHasherDefault::default(),
                shards,
            ),
            hasher: foldhash::fast::RandomState::default(),
            stripes: (0..shards).map(|_| Stripe::default()).collect(),
            stripe_shift: usize::BITS - shards.trailing_zeros(),
            live: AtomicUsize::new(0),
            ended: Mutex::new(Vec::new()),
            evict_scratch: Mutex::default(),
            ended_counts: Default::default(),
            evictions: AtomicU64::new(0),
        }
    }

    /// The configuration in force (`max_flows` raised to at least 1).
    pub fn config(&self) -> &FlowTableConfig {
        &self.cfg
    }

    /// Meters one packet seen at `now`. Called from the capture threads, several at once.
    ///
    /// One hash and one shard lock for a packet of a live flow; no allocation. A flow that is
    /// already due is ended here with its natural reason (or cut, for the active timeout).
    pub fn update(&self, pkt: &Packet, now: Nanos) {
        let (key, swapped) = self.canonical(&pkt.key);
        let key = TableKey {
            hash: self.hash(&key),
            key,
        };
        let stripe = &self.stripes[((key.hash as usize) << 7) >> self.stripe_shift];
        loop {
            match self.map.entry(key) {
                Entry::Occupied(mut e) => {
                    let flow = e.get_mut();
                    if self.advance(&key.key, flow, now, &mut |r| lock(&self.ended).push(r)) {
                        flow.add(pkt, swapped, now);
                    } else {
                        *flow = Flow::new(pkt, swapped, now);
                        stripe.flows.fetch_add(1, Relaxed);
                    }
                    break;
                }
                Entry::Vacant(e) => {
                    if self.reserve() {
                        e.insert(Flow::new(pkt, swapped, now));
                        stripe.flows.fetch_add(1, Relaxed);
                        break;
                    }
                }
            }
            self.make_room(now);
        }
        stripe.packets.fetch_add(1, Relaxed);
        stripe.octets.fetch_add(u64::from(pkt.octets), Relaxed);
    }

    /// Records ended by `update` (and by making room) that wait for the next sweep.
    pub fn backlog(&self) -> usize {
        lock(&self.ended).len()
    }

    /// Moves the records that wait for the next sweep to `out`, without sweeping: for a
    /// capture file's reader, which can end flows faster than the sweeper takes them.
    pub fn take_ended(&self, out: &mut Vec<FlowRecord>) {
        out.append(&mut lock(&self.ended));
    }

    /// Ends what is due at `now`, and appends those records to `out` after the ones
    /// `update` ended since the last call.
    pub fn sweep(&self, now: Nanos, out: &mut Vec<FlowRecord>) {
        self.take_ended(out);
        self.map.retain(|key, flow| {
            let alive = self.advance(&key.key, flow, now, &mut |r| out.push(r));
            if !alive {
                self.live.fetch_sub(1, Relaxed);
            }
            alive
        });
    }

    /// Sweeps at `now`, then ends every remaining flow with [`EndReason::ForcedEnd`]
    /// (shutdown, end of a pcap file).
    pub fn flush(&self, now: Nanos, out: &mut Vec<FlowRecord>) {
        self.sweep(now, out);
        self.map.retain(|key, flow| {
            if !flow.is_empty() {
                out.push(self.end(&key.key, flow, EndReason::ForcedEnd));
            }
            self.live.fetch_sub(1, Relaxed);
            false
        });
    }

    /// Ends the flows observed at `points` (their namespace is gone): what is due with its
    /// own reason, the rest with [`EndReason::ForcedEnd`]. Other flows are left alone.
    pub fn flush_points(&self, points: &[u32], now: Nanos, out: &mut Vec<FlowRecord>) {
        self.map.retain(|key, flow| {
            if !points.contains(&key.key.point) {
                return true;
            }
            let alive = self.advance(&key.key, flow, now, &mut |r| out.push(r));
            if alive && !flow.is_empty() {
                out.push(self.end(&key.key, flow, EndReason::ForcedEnd));
            }
            self.live.fetch_sub(1, Relaxed);
            false
        });
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
            ..TableStats::default()
        };
        for s in self.stripes.iter() {
            stats.packets += s.packets.load(Relaxed);
            stats.octets += s.octets.load(Relaxed);
            stats.flows += s.flows.load(Relaxed);
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
        h.write_u128(key.src);
        h.write_u128(key.dst);
        h.write_u64(
            u64::from(key.src_port) | u64::from(key.dst_port) << 16 | u64::from(key.point) << 32,
        );
        h.write_u32(u32::from(key.vlan) | u32::from(key.proto) << 16 | u32::from(key.ipv6) << 24);
        h.finish()
    }

    /// Applies every rule due at `now` to `flow`, emitting its records. Returns false when the
    /// flow has ended and must go.
    #[inline]
    fn advance(
        &self,
        key: &FlowKey,
        flow: &mut Flow,
        now: Nanos,
        emit: &mut impl FnMut(FlowRecord),
    ) -> bool {
        loop {
            let (due, reason) = flow.next_event(&self.cfg);
            if due > now {
                return true;
            }
            if reason == EndReason::ActiveTimeout {
                emit(self.end(key, flow, reason));
                flow.cut();
            } else {
                if !flow.is_empty() {
                    emit(self.end(key, flow, reason));
                }
                return false;
            }
        }
    }

    /// The record of `flow`'s current piece, counted under `reason`.
    fn end(&self, key: &FlowKey, flow: &Flow, reason: EndReason) -> FlowRecord {
        self.ended_counts[reason as usize - 1].fetch_add(1, Relaxed);
        flow.record(key, reason)
    }

    /// Takes a slot for a new flow if the table has room.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < self.cfg.max_flows).then_some(n + 1)
            })
            .is_ok()
    }

    /// Frees about a sixteenth of the table: first the flows already due at `now`, then the
    /// ones with the oldest last packet, ended with [`EndReason::LackOfResources`]. Two passes
    /// over the table per batch, so a constant amortised cost per new flow.
    ///
    /// Records are gathered aside and moved to `ended` after each pass: `update` takes the
    /// `ended` lock while holding a shard lock, so it must never be held while taking one.
    #[cold]
    fn make_room(&self, now: Nanos) {
        let mut scratch = lock(&self.evict_scratch);
        let EvictScratch { lasts, records } = &mut *scratch;
        let max = self.cfg.max_flows;
        if self.len() < max {
            return; // another thread made room meanwhile
        }
        let target = max - (max / 16).max(1);
        lasts.clear();
        self.map.retain(|key, flow| {
            let alive = self.advance(&key.key, flow, now, &mut |r| records.push(r));
            if alive {
                lasts.push(flow.last);
            } else {
                self.live.fetch_sub(1, Relaxed);
            }
            alive
        });
        lock(&self.ended).append(records);
        let excess = self.len().saturating_sub(target).min(lasts.len());
        if excess == 0 {
            return;
        }
        let threshold = *lasts.select_nth_unstable(excess - 1).1;
        let older = lasts.iter().filter(|&&t| t < threshold).count();
        // Flows last seen exactly at `threshold` may be more than needed: evict only enough.
        let mut ties = excess - older;
        self.map.retain(|key, flow| {
            let evict = if flow.last < threshold {
                true
            } else if flow.last == threshold && ties > 0 {
                ties -= 1;
                true
            } else {
                false
            };
            if evict {
                if !flow.is_empty() {
                    records.push(self.end(&key.key, flow, EndReason::LackOfResources));
                }
                self.evictions.fetch_add(1, Relaxed);
                self.live.fetch_sub(1, Relaxed);
            }
            !evict
        });
        lock(&self.ended).append(records);
    }
}

/// Reusable buffers of an eviction pass.
#[derive(Default)]
struct EvictScratch {
    /// Last-packet time of every flow that survived the natural-end pass.
    lasts: Vec<Nanos>,
    /// Records ended during a pass, moved to `FlowTable::ended` afterwards.
    records: Vec<FlowRecord>,
}
