//! Where one shard keeps the flows of one address family: the entries in fixed-size
//! chunks that never move (an entry keeps its place until it ends; a new chunk is added
//! when the others are full, and nothing is copied), and an open-addressing index of
//! 8-byte slots (a 32-bit piece of the hash and the entry's number) that doubles when
//! three quarters full, without hashing a key again. Entries that end are put back on a
//! free list and reused. IPv4 flows take entries with 4-byte addresses, IPv6 flows
//! entries with 16-byte ones.

use super::entry::Flow;
use crate::flow::key::FlowKey;

/// Entries per chunk.
const CHUNK: usize = 2048;
/// Index slots of a new store (a power of two).
const FIRST_SLOTS: usize = 64;

/// The part of a [`FlowKey`] one family keeps.
pub(super) trait FamilyKey: Copy + PartialEq {
    fn of(key: &FlowKey) -> Self;
    fn key(&self) -> FlowKey;
}

/// An IPv4 flow key: 19 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Key4 {
    src: u32,
    dst: u32,
    point: u32,
    src_port: u16,
    dst_port: u16,
    vlan: u16,
    proto: u8,
}

impl FamilyKey for Key4 {
    #[inline]
    fn of(k: &FlowKey) -> Key4 {
        Key4 {
            src: k.src as u32,
            dst: k.dst as u32,
            point: k.point,
            src_port: k.src_port,
            dst_port: k.dst_port,
            vlan: k.vlan,
            proto: k.proto,
        }
    }

    fn key(&self) -> FlowKey {
        FlowKey {
            src: u128::from(self.src),
            dst: u128::from(self.dst),
            src_port: self.src_port,
            dst_port: self.dst_port,
            vlan: self.vlan,
            point: self.point,
            proto: self.proto,
            ipv6: false,
        }
    }
}

/// An IPv6 flow key: 43 bytes, addresses as 32-bit words so that the entry keeps the
/// alignment of its counters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Key6 {
    src: [u32; 4],
    dst: [u32; 4],
    point: u32,
    src_port: u16,
    dst_port: u16,
    vlan: u16,
    proto: u8,
}

fn words(a: u128) -> [u32; 4] {
    [
        (a >> 96) as u32,
        (a >> 64) as u32,
        (a >> 32) as u32,
        a as u32,
    ]
}

fn joined(w: [u32; 4]) -> u128 {
    w.iter().fold(0u128, |a, &w| a << 32 | u128::from(w))
}

impl FamilyKey for Key6 {
    #[inline]
    fn of(k: &FlowKey) -> Key6 {
        Key6 {
            src: words(k.src),
            dst: words(k.dst),
            point: k.point,
            src_port: k.src_port,
            dst_port: k.dst_port,
            vlan: k.vlan,
            proto: k.proto,
        }
    }

    fn key(&self) -> FlowKey {
        FlowKey {
            src: joined(self.src),
            dst: joined(self.dst),
            src_port: self.src_port,
            dst_port: self.dst_port,
            vlan: self.vlan,
            point: self.point,
            proto: self.proto,
            ipv6: true,
        }
    }
}

/// A live flow, or a free entry (its last-packet time is [`FREE`]).
pub(super) struct Entry<K> {
    pub flow: Flow,
    pub key: K,
    /// The hash piece of its index slot, to find the slot again when the flow ends.
    tag: u32,
}

/// The last-packet time of a free entry: no packet has it.
const FREE: u64 = u64::MAX;

impl<K> Entry<K> {
    #[inline]
    fn live(&self) -> bool {
        self.flow.last != FREE
    }
}

/// An index slot: 0 is empty, otherwise the entry's number plus one.
#[derive(Clone, Copy, Default)]
struct Slot {
    tag: u32,
    at: u32,
}

/// The flows of one family in one shard.
pub(super) struct Store<K> {
    slots: Vec<Slot>,
    chunks: Vec<Vec<Entry<K>>>,
    free: Vec<u32>,
    live: usize,
}

/// Where a key is, or where it would go.
pub(super) enum Found {
    /// Entry number.
    At(u32),
    /// Free index slot for it.
    Vacant(usize),
}

impl<K: FamilyKey> Store<K> {
    pub fn new() -> Store<K> {
        Store {
            slots: Vec::new(),
            chunks: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.live
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The entry of `key`, whose hash piece is `tag`, or the slot it would take. Call
    /// [`Store::reserve_slot`] first when a new entry may follow.
    #[inline]
    pub fn find(&self, key: &K, tag: u32) -> Found {
        if self.slots.is_empty() {
            return Found::Vacant(0);
        }
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let s = self.slots[i];
            if s.at == 0 {
                return Found::Vacant(i);
            }
            if s.tag == tag && self.entry(s.at - 1).key == *key {
                return Found::At(s.at - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Reads what [`Store::find`] will read first for `tag` (its index slot, and the
    /// entry it names when the hash matches), so that a batch of packets waits for memory
    /// once, all its reads at the same time, instead of once per packet. Returns a value
    /// to keep the reads from being left out.
    #[inline]
    pub fn touch(&self, tag: u32) -> u32 {
        if self.slots.is_empty() {
            return 0;
        }
        let s = self.slots[tag as usize & self.mask()];
        if s.at != 0 && s.tag == tag {
            self.entry(s.at - 1).tag
        } else {
            s.at
        }
    }

    /// Makes sure the index has room for one more entry (growing it keeps found slots
    /// valid only if called before [`Store::find`]).
    #[inline]
    pub fn reserve_slot(&mut self) {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); FIRST_SLOTS];
        } else if (self.live + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
    }

    #[cold]
    fn grow(&mut self) {
        let doubled = vec![Slot::default(); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.mask();
        for s in old.into_iter().filter(|s| s.at != 0) {
            let mut i = s.tag as usize & mask;
            while self.slots[i].at != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }

    /// Puts a new flow in index slot `slot` (from [`Store::find`], after
    /// [`Store::reserve_slot`]).
    pub fn insert(&mut self, slot: usize, key: K, tag: u32, flow: Flow) {
        let entry = Entry { flow, key, tag };
        let at = match self.free.pop() {
            Some(at) => {
                *self.entry_mut(at) = entry;
                at
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let n = self.chunks.len() - 1;
                let chunk = self.chunks.last_mut().expect("pushed above");
                chunk.push(entry);
                (n * CHUNK + chunk.len() - 1) as u32
            }
        };
        self.slots[slot] = Slot { tag, at: at + 1 };
        self.live += 1;
    }

    #[inline]
    pub fn entry(&self, at: u32) -> &Entry<K> {
        &self.chunks[at as usize / CHUNK][at as usize % CHUNK]
    }

    #[inline]
    pub fn entry_mut(&mut self, at: u32) -> &mut Entry<K> {
        &mut self.chunks[at as usize / CHUNK][at as usize % CHUNK]
    }

    /// Ends entry `at`: out of the index (later slots of its run shifted back, so that
    /// no tombstone is left) and onto the free list.
    pub fn remove(&mut self, at: u32) {
        let tag = self.entry(at).tag;
        let mask = self.mask();
        let mut i = tag as usize & mask;
        while self.slots[i].at != at + 1 {
            i = (i + 1) & mask;
        }
        // Backward shift: move up each later slot of the run whose home allows it.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s.at == 0 {
                break;
            }
            let home = s.tag as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(i) & mask) {
                self.slots[i] = s;
                i = j;
            }
        }
        self.slots[i] = Slot::default();
        let entry = self.entry_mut(at);
        entry.flow.last = FREE;
        entry.flow.ext = None;
        self.free.push(at);
        self.live -= 1;
    }

    /// Calls `visit` with each live entry's number and entry; the entries it returns
    /// false for are removed.
    pub fn retain(&mut self, mut visit: impl FnMut(&mut Entry<K>) -> bool) {
        let total = self.chunks.iter().map(Vec::len).sum::<usize>();
        for at in 0..total as u32 {
            let entry = self.entry_mut(at);
            if entry.live() && !visit(entry) {
                self.remove(at);
            }
        }
    }

    /// Calls `visit` on every live entry, then forgets them all and gives the memory
    /// back: the end of everything, at once.
    pub fn drain(&mut self, mut visit: impl FnMut(Entry<K>)) {
        for chunk in std::mem::take(&mut self.chunks) {
            for entry in chunk.into_iter().filter(|e| e.live()) {
                visit(entry);
            }
        }
        *self = Store::new();
    }

    /// Eviction ranks of the live entries (`Flow::eviction_rank`).
    pub fn ranks(&self, out: &mut Vec<u64>) {
        for chunk in &self.chunks {
            out.extend(
                chunk
                    .iter()
                    .filter(|e| e.live())
                    .map(|e| e.flow.eviction_rank()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Packet;

    fn key(n: u32) -> Key4 {
        Key4::of(&FlowKey {
            src: u128::from(n),
            dst: 1,
            ..FlowKey::default()
        })
    }

    fn flow() -> Flow {
        Flow::new(&Packet::default(), false, 0)
    }

    /// Tags that collide on purpose make long runs, to exercise the backward shift.
    fn tag(n: u32) -> u32 {
        n % 7
    }

    fn add(s: &mut Store<Key4>, n: u32) {
        s.reserve_slot();
        match s.find(&key(n), tag(n)) {
            Found::Vacant(slot) => s.insert(slot, key(n), tag(n), flow()),
            Found::At(_) => panic!("{n} is there already"),
        }
    }

    fn has(s: &Store<Key4>, n: u32) -> bool {
        !s.slots.is_empty() && matches!(s.find(&key(n), tag(n)), Found::At(_))
    }

    #[test]
    fn entries_are_found_after_growth_and_removals() {
        let mut s = Store::new();
        for n in 0..5000 {
            add(&mut s, n);
        }
        assert_eq!(s.len(), 5000);
        assert!(s.slots.len() >= 5000 * 4 / 3);
        // Remove every third through retain; the rest stay findable.
        s.retain(|e| !joined_src(e).is_multiple_of(3));
        assert_eq!(s.len(), 5000 - 1667);
        for n in 0..5000 {
            assert_eq!(has(&s, n), !n.is_multiple_of(3), "{n}");
        }
        // Freed entries are reused before new chunks are added.
        let chunks = s.chunks.len();
        for n in 5000..6000 {
            add(&mut s, n);
        }
        assert_eq!(s.chunks.len(), chunks);
        assert!((5000..6000).all(|n| has(&s, n)));
        let mut seen = 0;
        s.drain(|_| seen += 1);
        assert_eq!((seen, s.len(), s.chunks.len()), (5000 - 1667 + 1000, 0, 0));
    }

    fn joined_src(e: &Entry<Key4>) -> u32 {
        e.key.src
    }

    #[test]
    fn entries_are_small() {
        assert_eq!(std::mem::size_of::<Entry<Key4>>(), 88);
        assert_eq!(std::mem::size_of::<Entry<Key6>>(), 112);
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }

    #[test]
    fn ipv6_keys_round_trip() {
        let k = FlowKey {
            src: 0x2001_0db8_0000_0000_0000_0000_0000_0001,
            dst: 0xfd00_0000_0000_0000_0000_0000_0000_0002,
            src_port: 1,
            dst_port: 2,
            vlan: 3,
            point: 4,
            proto: 6,
            ipv6: true,
        };
        assert_eq!(Key6::of(&k).key(), k);
        let k4 = FlowKey {
            ipv6: false,
            src: 0x0a00_0001,
            dst: 0xc0a8_0001,
            ..k
        };
        assert_eq!(Key4::of(&k4).key(), k4);
    }
}
