//! One exporter's session (a TCP or TLS connection, or a UDP source address): its
//! templates, and each message it sends turned into batches of records for the collector,
//! every record its bytes as received and what the mediator appends. Pure: messages in,
//! batches out; the listeners and the output are elsewhere.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::cluster::{ClusterView, Millis};
use crate::ipfix::relay::{template_record, Layout};
use crate::ipfix::{
    sets, template_set_records, whole_message, DecodeError, Template, TemplateField, TemplateRecord,
};

use super::enrich::{append, name, Exporter, Named, Shape};

/// A template of the output: the input's fields and the appended ones, under an id of
/// the mediator's own. Exporters that send the same template share one.
#[derive(Debug, PartialEq, Eq)]
pub struct OutTemplate {
    pub id: u16,
    /// The template record as it goes in a template set.
    pub record: Vec<u8>,
    pub options: bool,
}

/// The output's templates, shared by every session.
#[derive(Debug)]
pub struct OutTemplates {
    enterprise_number: u32,
    by_shape: HashMap<(u16, Vec<TemplateField>, Shape), Arc<OutTemplate>>,
    next: u16,
}

impl OutTemplates {
    pub fn new(enterprise_number: u32) -> OutTemplates {
        OutTemplates {
            enterprise_number,
            by_shape: HashMap::new(),
            // 256-259 stay free for the mediator's own statistics and type records.
            next: 260,
        }
    }

    /// The output template of `input` appended with `shape`'s fields; None when every id
    /// is taken.
    fn get(&mut self, input: &Template, shape: Shape) -> Option<Arc<OutTemplate>> {
        let key = (input.scope_fields, input.fields.clone(), shape);
        if let Some(t) = self.by_shape.get(&key) {
            return Some(t.clone());
        }
        let id = self.next;
        self.next = self.next.checked_add(1)?;
        let mut record = Vec::new();
        let appended = shape.fields(self.enterprise_number);
        template_record(
            id,
            input.scope_fields,
            &input.fields,
            &appended,
            &mut record,
        );
        let t = Arc::new(OutTemplate {
            id,
            record,
            options: input.scope_fields > 0,
        });
        self.by_shape.insert(key, t.clone());
        Some(t)
    }

    /// Templates in use, for a collector that connects anew (UDP refreshes them too).
    pub fn all(&self) -> Vec<Arc<OutTemplate>> {
        let mut all: Vec<_> = self.by_shape.values().cloned().collect();
        all.sort_by_key(|t| t.id);
        all
    }
}

/// Records of one output template, ready to be packed into messages.
#[derive(Debug)]
pub struct Batch {
    pub template: Arc<OutTemplate>,
    pub bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    pub ends: Vec<u32>,
}

impl Batch {
    /// The records, one slice each.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, end)| &self.bytes[start as usize..*end as usize])
    }
}

/// Buffers of batches already sent, for the sessions to fill again: the receiving thread
/// then neither allocates per message nor frees what the output thread let go (which, with
/// glibc's allocator, contends on its arena lock). Bounded in count and in size.
#[derive(Debug, Default)]
pub struct Spare(Mutex<Vec<(Vec<u8>, Vec<u32>)>>);

impl Spare {
    /// Buffers kept at most.
    const KEPT: usize = 256;
    /// A buffer larger than this is let go rather than kept.
    const LARGEST: usize = 1 << 20;

    /// An empty buffer for a batch's bytes and its record ends.
    pub fn take(&self) -> (Vec<u8>, Vec<u32>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    /// `batch`'s buffers, sent, for another batch.
    pub fn give_back(&self, batch: Batch) {
        let (mut bytes, mut ends) = (batch.bytes, batch.ends);
        if bytes.capacity() > Self::LARGEST {
            return;
        }
        bytes.clear();
        ends.clear();
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < Self::KEPT {
            kept.push((bytes, ends));
        }
    }
}

/// What one message gave.
#[derive(Debug, Default)]
pub struct Outcome {
    pub batches: Vec<Batch>,
    /// Data records (options records included) passed on.
    pub records: u64,
    /// Records with an end the view named (a pod, a node, a Service).
    pub named: u64,
    /// Data records named while the view was not current (a kind not listed yet, a watch
    /// failing): they went out with what it knew.
    pub not_current: u64,
    /// Ends in the cluster's own ranges that nothing held then: went out unnamed.
    pub unowned_ends: u64,
    /// Data sets whose template the session did not know (yet): their records are lost.
    pub unknown_sets: u64,
    /// Template definitions refused: over the session's bound, or no output id left.
    pub refused_templates: u64,
}

/// A session's input template.
#[derive(Debug)]
struct InTemplate {
    layout: Layout,
    out: Arc<OutTemplate>,
    shape: Shape,
}

/// One exporter's session.
#[derive(Debug)]
pub struct ExporterSession {
    exporter: IpAddr,
    enterprise_number: u32,
    max_templates: usize,
    templates: HashMap<(u32, u16), InTemplate>,
}

impl ExporterSession {
    pub fn new(exporter: IpAddr, enterprise_number: u32, max_templates: usize) -> Self {
        ExporterSession {
            exporter,
            enterprise_number,
            max_templates,
            templates: HashMap::new(),
        }
    }

    /// Templates the session holds.
    pub fn templates(&self) -> usize {
        self.templates.len()
    }

    /// Turns one whole message into batches: templates learnt, data records named from
    /// `view` and appended, in buffers from `spare`. A message that does not parse is an
    /// error and gives nothing.
    pub fn message(
        &mut self,
        msg: &[u8],
        view: &ClusterView,
        out: &Mutex<OutTemplates>,
        spare: &Spare,
    ) -> Result<Outcome, DecodeError> {
        let header = whole_message(msg)?;
        let sets = sets(msg)?;
        let domain = header.observation_domain_id;
        let exporter = Exporter {
            address: self.exporter,
            domain,
        };
        let fallback = Millis::from(header.export_time) * 1000;
        let mut outcome = Outcome::default();
        for (set_id, body) in sets {
            match set_id {
                2 | 3 => self.template_set(domain, set_id, body, out, &mut outcome)?,
                4..=255 => {}
                _ => {
                    let Some(t) = self.templates.get(&(domain, set_id)) else {
                        outcome.unknown_sets += 1;
                        continue;
                    };
                    let (mut bytes, ends) = spare.take();
                    // Room for the names appended, most often without growing.
                    bytes.reserve(body.len() * 4);
                    let mut batch = Batch {
                        template: t.out.clone(),
                        bytes,
                        ends,
                    };
                    let mut named = Named::default();
                    for record in t.layout.records(body) {
                        let record = record?;
                        batch.bytes.extend_from_slice(record.bytes);
                        if matches!(t.shape, Shape::Data { .. }) {
                            let keys = &record.keys;
                            named = name(view, keys, fallback);
                            outcome.named +=
                                u64::from(named.source.named() || named.destination.named());
                            outcome.not_current += u64::from(!view.current);
                            outcome.unowned_ends +=
                                u64::from(keys.source.is_some() && named.source.unowned())
                                    + u64::from(
                                        keys.destination.is_some() && named.destination.unowned(),
                                    );
                        }
                        append(&mut batch.bytes, t.shape, exporter, &named);
                        batch.ends.push(batch.bytes.len() as u32);
                    }
                    outcome.records += batch.ends.len() as u64;
                    if !batch.ends.is_empty() {
                        outcome.batches.push(batch);
                    }
                }
            }
        }
        Ok(outcome)
    }

    fn template_set(
        &mut self,
        domain: u32,
        set_id: u16,
        body: &[u8],
        out: &Mutex<OutTemplates>,
        outcome: &mut Outcome,
    ) -> Result<(), DecodeError> {
        let options = set_id == 3;
        for record in template_set_records(body, set_id)? {
            match record {
                TemplateRecord::WithdrawAll => self
                    .templates
                    .retain(|(d, _), t| *d != domain || t.layout.is_options() != options),
                TemplateRecord::Withdraw(id) => {
                    self.templates.remove(&(domain, id));
                }
                TemplateRecord::Define(template) => {
                    let key = (domain, template.id);
                    if !self.templates.contains_key(&key)
                        && self.templates.len() >= self.max_templates
                    {
                        outcome.refused_templates += 1;
                        continue;
                    }
                    let layout = Layout::new(template, self.enterprise_number);
                    let v6 = self.exporter.is_ipv6();
                    let shape = match (layout.enriched, layout.is_options()) {
                        (true, _) => Shape::AsIs,
                        (false, true) => Shape::Options { ipv6_exporter: v6 },
                        (false, false) => Shape::Data { ipv6_exporter: v6 },
                    };
                    let got = out
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get(&layout.template, shape);
                    match got {
                        Some(out) => {
                            self.templates
                                .insert(key, InTemplate { layout, out, shape });
                        }
                        None => outcome.refused_templates += 1,
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
