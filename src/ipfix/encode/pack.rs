//! Records packed into messages of at most the budget (RFC 7011 §3.1, §3.3): records of
//! the same set follow each other in one set, a new set opens when the set id changes,
//! a new message when the next record would not fit.

use super::{Encoded, HEADER_LEN, SET_HEADER_LEN, VERSION};

/// Builds messages one record at a time, numbering them from `sequence`.
pub(super) struct Packer {
    domain: u32,
    time: u32,
    budget: usize,
    /// The next header's sequence number.
    pub(super) sequence: u32,
    msg: Vec<u8>,
    /// Id and start of the set being filled.
    set: Option<(u16, usize)>,
    /// Data records (what advances the sequence number) in the message being filled.
    records: u32,
    /// Records of the message being filled whose strings were cut to fit.
    cut: u32,
    out: Vec<Encoded>,
}

impl Packer {
    pub(super) fn new(domain: u32, sequence: u32, time: u32, budget: usize) -> Packer {
        Packer {
            domain,
            time,
            budget,
            sequence,
            msg: Vec::new(),
            set: None,
            records: 0,
            cut: 0,
            out: Vec::new(),
        }
    }

    /// Appends one record to a set `set_id`. Data records (`data`), options records
    /// included, advance the sequence number; template records do not.
    pub(super) fn push(&mut self, set_id: u16, record: &[u8], data: bool, cut: bool) {
        let same_set = matches!(self.set, Some((id, _)) if id == set_id);
        let added = record.len() + if same_set { 0 } else { SET_HEADER_LEN };
        if !self.msg.is_empty() && self.msg.len() + added > self.budget {
            self.flush();
        }
        if self.msg.is_empty() {
            self.msg.reserve(self.budget);
            self.msg.resize(HEADER_LEN, 0);
        }
        if !matches!(self.set, Some((id, _)) if id == set_id) {
            self.close_set();
            let start = self.msg.len();
            self.msg.extend_from_slice(&set_id.to_be_bytes());
            self.msg.extend_from_slice(&[0, 0]);
            self.set = Some((set_id, start));
        }
        self.msg.extend_from_slice(record);
        self.records += u32::from(data);
        self.cut += u32::from(cut);
    }

    /// Appends `record` in a set of its own, followed by `pad` zero bytes (RFC 7011
    /// §3.3.1 set padding).
    pub(super) fn push_padded(&mut self, set_id: u16, record: &[u8], pad: usize) {
        self.close_set();
        let mut padded = record.to_vec();
        padded.resize(record.len() + pad, 0);
        self.push(set_id, &padded, false, false);
        self.close_set();
    }

    /// The messages, the last one finished.
    pub(super) fn finish(mut self) -> (Vec<Encoded>, u32) {
        if !self.msg.is_empty() {
            self.flush();
        }
        (self.out, self.sequence)
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.set.take() {
            let len = (self.msg.len() - start) as u16;
            self.msg[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
        }
    }

    /// Finishes the message being filled: its header, and the sequence number it
    /// advances by its data records.
    fn flush(&mut self) {
        self.close_set();
        let mut msg = std::mem::take(&mut self.msg);
        let len = msg.len() as u16;
        msg[0..2].copy_from_slice(&VERSION.to_be_bytes());
        msg[2..4].copy_from_slice(&len.to_be_bytes());
        msg[4..8].copy_from_slice(&self.time.to_be_bytes());
        msg[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        msg[12..16].copy_from_slice(&self.domain.to_be_bytes());
        self.sequence = self.sequence.wrapping_add(self.records);
        self.out.push(Encoded {
            bytes: msg,
            records: self.records,
            cut: self.cut,
        });
        self.records = 0;
        self.cut = 0;
    }
}
