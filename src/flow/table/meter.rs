//! Packets in: each packet's flow found (one hash, one shard lock) and metered, one at a
//! time or a batch at a time.

use super::*;

impl FlowTable {
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
    pub(super) fn update_then<T>(
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
    pub(super) fn prepare(&self, key: &FlowKey) -> Prepared {
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

    pub(super) fn update_chunk(&self, batch: &[(Packet, Nanos)]) {
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
    pub(super) fn meter_prepared(
        &self,
        shard: &mut Shard,
        p: &Prepared,
        pkt: &Packet,
        now: Nanos,
    ) -> bool {
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
    pub(super) fn meter<K: FamilyKey>(
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
}
