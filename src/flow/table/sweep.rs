//! Flows out: the sweeps that end due flows, the flushes that end them all or a namespace's,
//! and the rules that decide when a flow ends or is cut.

use super::*;

impl FlowTable {
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

    /// Runs `keep` on every flow of both stores (with its canonical key); removes the ones
    /// it returns false for, and counts them out of the live flows.
    pub(super) fn retain_both(
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
    pub(super) fn retain<K: FamilyKey>(
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
    pub(super) fn force_end(&self, key: &FlowKey, flow: &mut Flow, out: &mut Batcher<'_>) {
        if !flow.is_empty() {
            out.push(self.end(key, flow, EndReason::ForcedEnd));
        }
    }

    /// Applies every rule due at `now` to `flow`, emitting its records. Returns false when the
    /// flow has ended and must go.
    #[inline]
    pub(super) fn advance(
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
    pub(super) fn end(&self, key: &FlowKey, flow: &mut Flow, reason: EndReason) -> FlowRecord {
        self.ended_counts[reason as usize - 1].fetch_add(1, Relaxed);
        flow.take_record(key, reason)
    }

    /// The record of `flow`'s current piece at its active timeout; the flow goes on.
    pub(super) fn cut_piece(&self, key: &FlowKey, flow: &Flow) -> FlowRecord {
        self.ended_counts[EndReason::ActiveTimeout as usize - 1].fetch_add(1, Relaxed);
        flow.record(key, EndReason::ActiveTimeout)
    }

    /// Frees about a sixteenth of the table: first the flows already due at `now`, then,
    /// ended with [`EndReason::LackOfResources`], the flows that look like noise (one
    /// packet, never answered: a SYN flood, a scan), oldest first, and only then the
    /// conversations with the oldest last packet. Two passes over the table per batch, so
    /// a constant amortised cost per new flow. Each shard's records wait in the shard for
    /// the next sweep, or go to the spill when it holds too many.
    #[cold]
    pub(super) fn make_room(&self, now: Nanos) {
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
