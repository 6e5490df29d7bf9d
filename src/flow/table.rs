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
mod store;

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

    /// Meters one packet seen at `now`. Called from the capture threads, several at once.
    ///
    /// One hash and one shard lock for a packet of a live flow; no allocation. A flow that is
    /// already due is ended here with its natural reason (or cut, for the active timeout).
    #[inline]
    pub fn update(&self, pkt: &Packet, now: Nanos) {
        self.update_then(pkt, now, |_, _| ());
    }

    /// Meters `pkt` as [`FlowTable::update`] does, then reads `payload` (what the capture
    /// kept of its transport payload) into its flow's application state, under the same
    /// lock; says whether the flow wants the initiator's next segments too (a ClientHello
    /// not yet whole).
    pub fn update_payload(&self, pkt: &Packet, payload: &[u8], now: Nanos) -> Wants {
        self.update_then(pkt, now, |shard, p| {
            let tag = p.hash as u32;
            let found = if p.key.ipv6 {
                match shard.v6.find(&Key6::of(&p.key), tag) {
                    Found::At(at) => Some(&mut shard.v6.entry_mut(at).flow),
                    Found::Vacant(_) => None,
                }
            } else {
                match shard.v4.find(&Key4::of(&p.key), tag) {
                    Found::At(at) => Some(&mut shard.v4.entry_mut(at).flow),
                    Found::Vacant(_) => None,
                }
            };
            // Vacant: the packet was not metered (its group holds its share).
            found.map_or(Wants::Nothing, |flow| {
                flow.add_payload(pkt, p.swapped, payload, now)
            })
        })
    }

    /// Meters `pkt`, then runs `then` on its shard (still locked) with the packet's
    /// prepared key.
    #[inline]
    fn update_then<T>(
        &self,
        pkt: &Packet,
        now: Nanos,
        then: impl FnOnce(&mut Shard, &Prepared) -> T,
    ) -> T {
        let p = self.prepare(&pkt.key);
        let shard = usize::from(p.shard);
        let mut guard = lock(&self.shards[shard]);
        while !self.meter_prepared(&mut guard, &p, pkt, now) {
            drop(guard);
            self.make_room(now);
            guard = lock(&self.shards[shard]);
        }
        let result = then(&mut guard, &p);
        let full = self.overflow(&mut guard);
        drop(guard);
        self.spill(full);
        result
    }

    /// `key`'s canonical key, its hash and its shard.
    #[inline]
    fn prepare(&self, key: &FlowKey) -> Prepared {
        let (key, swapped) = self.canonical(key);
        let hash = self.hash(&key);
        Prepared {
            key,
            hash,
            swapped,
            shard: (hash >> self.shard_shift) as u8,
        }
    }

    /// Meters a batch of packets, each with the time it was seen: as [`FlowTable::update`]
    /// on each in turn, but shard by shard (packets of one flow keep their order), one
    /// lock per shard, and each shard's reads of the batch issued together before it is
    /// metered, so that a flood of new flows does not wait for memory once per packet.
    pub fn update_batch(&self, batch: &[(Packet, Nanos)]) {
        for chunk in batch.chunks(MAX_BATCH) {
            self.update_chunk(chunk);
        }
    }

    fn update_chunk(&self, batch: &[(Packet, Nanos)]) {
        let mut prepared = [Prepared::default(); MAX_BATCH];
        let mut per_shard = [0u8; MAX_SHARDS + 1];
        for (p, (pkt, _)) in prepared.iter_mut().zip(batch) {
            *p = self.prepare(&pkt.key);
            per_shard[usize::from(p.shard) + 1] += 1;
        }
        // Packets in shard order (a counting sort: stable, so a flow's packets keep theirs).
        for s in 1..per_shard.len() {
            per_shard[s] += per_shard[s - 1];
        }
        let mut order = [0u8; MAX_BATCH];
        let mut next = per_shard;
        for (i, p) in prepared.iter().enumerate().take(batch.len()) {
            let at = &mut next[usize::from(p.shard)];
            order[usize::from(*at)] = i as u8;
            *at += 1;
        }
        let mut at = 0;
        while at < batch.len() {
            let shard = usize::from(prepared[usize::from(order[at])].shard);
            let end = usize::from(per_shard[shard + 1]);
            let group = &order[at..end];
            let mut guard = lock(&self.shards[shard]);
            let mut seen = 0u32;
            for &i in group {
                let p = &prepared[usize::from(i)];
                seen ^= if p.key.ipv6 {
                    guard.v6.touch(p.hash as u32)
                } else {
                    guard.v4.touch(p.hash as u32)
                };
            }
            std::hint::black_box(seen);
            for &i in group {
                let (pkt, now) = &batch[usize::from(i)];
                let p = &prepared[usize::from(i)];
                loop {
                    if self.meter_prepared(&mut guard, p, pkt, *now) {
                        break;
                    }
                    drop(guard);
                    self.make_room(*now);
                    guard = lock(&self.shards[shard]);
                }
            }
            let full = self.overflow(&mut guard);
            drop(guard);
            self.spill(full);
            at = end;
        }
    }

    /// Meters `pkt` (prepared as `p`) in its shard; false when a new flow found the table
    /// full.
    #[inline]
    fn meter_prepared(&self, shard: &mut Shard, p: &Prepared, pkt: &Packet, now: Nanos) -> bool {
        let Shard {
            v4,
            v6,
            ended,
            packets,
            octets,
            flows,
        } = shard;
        let tag = p.hash as u32;
        let metered = if p.key.ipv6 {
            self.meter(v6, Key6::of(&p.key), tag, pkt, p.swapped, now, ended)
        } else {
            self.meter(v4, Key4::of(&p.key), tag, pkt, p.swapped, now, ended)
        };
        match metered {
            Metered::Live | Metered::New => {
                *packets += 1;
                *octets += u64::from(pkt.octets);
                *flows += u64::from(metered == Metered::New);
                true
            }
            Metered::Refused => true,
            Metered::Full => false,
        }
    }

    /// Counts `pkt` in its flow of `store`, or starts one: unless its group holds its share
    /// ([`Metered::Refused`], not metered) or the table is full.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn meter<K: FamilyKey>(
        &self,
        store: &mut Store<K>,
        key: K,
        tag: u32,
        pkt: &Packet,
        swapped: bool,
        now: Nanos,
        ended: &mut Vec<FlowRecord>,
    ) -> Metered {
        store.reserve_slot();
        match store.find(&key, tag) {
            Found::At(at) => {
                let entry = store.entry_mut(at);
                let canonical = entry.key.key();
                if self.advance(&canonical, &mut entry.flow, now, &mut |r| ended.push(r)) {
                    entry.flow.add(pkt, swapped, now, self.cfg.npm);
                    Metered::Live
                } else {
                    entry.flow = Flow::new(pkt, swapped, now);
                    Metered::New
                }
            }
            Found::Vacant(slot) => {
                if !self.groups.take(pkt.key.point) {
                    return Metered::Refused;
                }
                if !self.reserve() {
                    self.groups.give_back(pkt.key.point);
                    return Metered::Full;
                }
                store.insert(slot, key, tag, Flow::new(pkt, swapped, now));
                Metered::New
            }
        }
    }

    /// Records ended by `update` (and by making room) that wait for the next sweep.
    pub fn backlog(&self) -> usize {
        self.shards.iter().map(|s| lock(s).ended.len()).sum()
    }

    /// Ends what is due at `now`, and appends those records to `out` after the ones
    /// `update` ended since the last call.
    pub fn sweep(&self, now: Nanos, out: &mut Vec<FlowRecord>) {
        self.sweep_batches(now, &mut |b| out.extend(b));
    }

    /// [`FlowTable::sweep`], its records handed to `emit` in batches of at most [`BATCH`].
    pub fn sweep_batches(&self, now: Nanos, emit: &mut dyn FnMut(Vec<FlowRecord>)) {
        let mut out = Batcher {
            batch: Vec::new(),
            emit,
        };
        for shard in self.shards.iter() {
            let mut guard = lock(shard);
            let shard = &mut *guard;
            for r in shard.ended.drain(..) {
                out.push(r);
            }
            shard.ended.shrink_to(BATCH);
            self.retain_both(&mut shard.v4, &mut shard.v6, |t, key, flow| {
                t.advance(&key, flow, now, &mut |r| out.push(r))
            });
        }
        out.finish();
    }

    /// Sweeps at `now`, then ends every remaining flow with [`EndReason::ForcedEnd`]
    /// (shutdown, end of a pcap file).
    pub fn flush(&self, now: Nanos, out: &mut Vec<FlowRecord>) {
        self.flush_batches(now, &mut |b| out.extend(b));
    }

    /// [`FlowTable::flush`], its records handed to `emit` in batches of at most
    /// [`BATCH`]; each shard's memory is given back as soon as its flows are ended.
    /// Each shard's flows are taken out under its lock and ended without it, so that
    /// `emit` may wait (for room at the exporter) while others read the table's counters.
    pub fn flush_batches(&self, now: Nanos, emit: &mut dyn FnMut(Vec<FlowRecord>)) {
        let mut out = Batcher {
            batch: Vec::new(),
            emit,
        };
        for shard in self.shards.iter() {
            let (ended, mut v4, mut v6) = {
                let mut guard = lock(shard);
                let shard = &mut *guard;
                let taken = (
                    std::mem::take(&mut shard.ended),
                    std::mem::replace(&mut shard.v4, Store::new()),
                    std::mem::replace(&mut shard.v6, Store::new()),
                );
                self.live.fetch_sub(taken.1.len() + taken.2.len(), Relaxed);
                taken
            };
            for r in ended {
                out.push(r);
            }
            // What is due ends with its own reason (an active timeout cuts first), the
            // rest as forced.
            let mut end = |key: FlowKey, mut flow: Flow| {
                self.groups.give_back(key.point);
                if self.advance(&key, &mut flow, now, &mut |r| out.push(r)) {
                    self.force_end(&key, &mut flow, &mut out);
                }
            };
            v4.drain(|e| end(e.key.key(), e.flow));
            v6.drain(|e| end(e.key.key(), e.flow));
        }
        out.finish();
    }

    /// Ends the flows observed at `points` (their namespace is gone): what is due with its
    /// own reason, the rest with [`EndReason::ForcedEnd`]. Other flows are left alone.
    pub fn flush_points(&self, points: &[u32], now: Nanos, out: &mut Vec<FlowRecord>) {
        let mut emit = |b: Vec<FlowRecord>| out.extend(b);
        let mut out = Batcher {
            batch: Vec::new(),
            emit: &mut emit,
        };
        for shard in self.shards.iter() {
            let mut guard = lock(shard);
            let shard = &mut *guard;
            self.retain_both(&mut shard.v4, &mut shard.v6, |t, key, flow| {
                if !points.contains(&key.point) {
                    return true;
                }
                if t.advance(&key, flow, now, &mut |r| out.push(r)) {
                    t.force_end(&key, flow, &mut out);
                }
                false
            });
        }
        out.finish();
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

    /// Runs `keep` on every flow of both stores (with its canonical key); removes the ones
    /// it returns false for, and counts them out of the live flows.
    fn retain_both(
        &self,
        v4: &mut Store<Key4>,
        v6: &mut Store<Key6>,
        mut keep: impl FnMut(&FlowTable, FlowKey, &mut Flow) -> bool,
    ) {
        let before = v4.len() + v6.len();
        self.retain(v4, &mut keep);
        self.retain(v6, &mut keep);
        self.live.fetch_sub(before - v4.len() - v6.len(), Relaxed);
    }

    /// Runs `keep` on every flow of `store` (with its canonical key); removes the ones it
    /// returns false for.
    fn retain<K: FamilyKey>(
        &self,
        store: &mut Store<K>,
        mut keep: impl FnMut(&FlowTable, FlowKey, &mut Flow) -> bool,
    ) {
        store.retain(|e| {
            let key = e.key.key();
            let kept = keep(self, key, &mut e.flow);
            if !kept {
                self.groups.give_back(key.point);
            }
            kept
        });
    }

    /// Ends `flow` with [`EndReason::ForcedEnd`], with a record if its piece has packets.
    fn force_end(&self, key: &FlowKey, flow: &mut Flow, out: &mut Batcher<'_>) {
        if !flow.is_empty() {
            out.push(self.end(key, flow, EndReason::ForcedEnd));
        }
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
                emit(self.cut_piece(key, flow));
                flow.cut();
            } else {
                if !flow.is_empty() {
                    emit(self.end(key, flow, reason));
                }
                return false;
            }
        }
    }

    /// The record of `flow`'s last piece, counted under `reason`: what the flow carries
    /// besides its counters moves into it.
    fn end(&self, key: &FlowKey, flow: &mut Flow, reason: EndReason) -> FlowRecord {
        self.ended_counts[reason as usize - 1].fetch_add(1, Relaxed);
        flow.take_record(key, reason)
    }

    /// The record of `flow`'s current piece at its active timeout; the flow goes on.
    fn cut_piece(&self, key: &FlowKey, flow: &Flow) -> FlowRecord {
        self.ended_counts[EndReason::ActiveTimeout as usize - 1].fetch_add(1, Relaxed);
        flow.record(key, EndReason::ActiveTimeout)
    }

    /// Takes a slot for a new flow if the table has room.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < self.cfg.max_flows).then_some(n + 1)
            })
            .is_ok()
    }

    /// Frees about a sixteenth of the table: first the flows already due at `now`, then,
    /// ended with [`EndReason::LackOfResources`], the flows that look like noise (one
    /// packet, never answered: a SYN flood, a scan), oldest first, and only then the
    /// conversations with the oldest last packet. Two passes over the table per batch, so
    /// a constant amortised cost per new flow. Each shard's records wait in the shard for
    /// the next sweep, or go to the spill when it holds too many.
    #[cold]
    fn make_room(&self, now: Nanos) {
        let mut ranks = lock(&self.evicting);
        let max = self.cfg.max_flows;
        if self.len() < max {
            return; // another thread made room meanwhile
        }
        let target = max - (max / 16).max(1);
        ranks.clear();
        for shard in self.shards.iter() {
            let mut guard = lock(shard);
            let Shard { v4, v6, ended, .. } = &mut *guard;
            self.retain_both(v4, v6, |t, key, flow| {
                t.advance(&key, flow, now, &mut |r| ended.push(r))
            });
            v4.ranks(&mut ranks);
            v6.ranks(&mut ranks);
            let full = self.overflow(&mut guard);
            drop(guard);
            self.spill(full);
        }
        let excess = self.len().saturating_sub(target).min(ranks.len());
        if excess == 0 {
            return;
        }
        let threshold = *ranks.select_nth_unstable(excess - 1).1;
        let lower = ranks.iter().filter(|&&r| r < threshold).count();
        // Flows ranked exactly at `threshold` may be more than needed: evict only enough.
        let mut ties = excess - lower;
        for shard in self.shards.iter() {
            let mut guard = lock(shard);
            let Shard { v4, v6, ended, .. } = &mut *guard;
            self.retain_both(v4, v6, |t, key, flow| {
                let rank = flow.eviction_rank();
                let evict = rank < threshold || (rank == threshold && ties > 0);
                if rank == threshold && evict {
                    ties -= 1;
                }
                if evict {
                    if !flow.is_empty() {
                        ended.push(t.end(&key, flow, EndReason::LackOfResources));
                    }
                    t.evictions.fetch_add(1, Relaxed);
                    if flow.looks_like_noise() {
                        t.evicted_noise.fetch_add(1, Relaxed);
                    }
                }
                !evict
            });
            let full = self.overflow(&mut guard);
            drop(guard);
            self.spill(full);
        }
        ranks.clear();
        ranks.shrink_to(0);
    }
}
