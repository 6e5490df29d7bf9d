//! IPFIX over a connection that comes back after failures (RFC 7011 §10.4: templates once
//! per connection, sequence numbers per connection). While the collector is unreachable,
//! finished flows wait in a bounded buffer, the oldest dropped and counted when it fills;
//! they are attributed and encoded only when they are sent. A message that cannot be
//! written within `export.write_timeout_secs` drops the connection, its records kept for
//! the next one. A session podflow closes itself (at shutdown, or to use renewed
//! certificates) ends with the withdrawal of every template (§8.1).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Connect, Dialer, MessageSink, Peer, Transport};
use crate::export::encoding::Encoding;
use crate::export::events::{CollectorClosed, CollectorSpoke, ExportError};
use crate::flow::FlowRecord;

/// How often a stream transport reconnects and sends its backlog.
const RECONNECT_CHECK: Duration = Duration::from_millis(500);
/// Records encoded at once from the backlog, so that a long one is not one huge batch.
const CHUNK: usize = 4096;

/// A stream collector and the records waiting for it.
pub struct Stream<C: Connect> {
    dialer: Dialer<C>,
    stream: Option<C::Stream>,
    pending: VecDeque<FlowRecord>,
    capacity: usize,
    /// At shutdown: no message is begun after this.
    until: Option<Instant>,
}

impl<C: Connect> Stream<C> {
    /// Sends through connections `dialer` makes, keeping up to `capacity` records while
    /// there is none.
    pub fn new(dialer: Dialer<C>, capacity: usize) -> Self {
        Stream {
            dialer,
            stream: None,
            pending: VecDeque::new(),
            capacity,
            until: None,
        }
    }

    /// Connects if a try is due, then sends everything pending.
    fn flush(&mut self, enc: &mut Encoding) {
        self.look_at_peer(enc);
        if self.stream.is_some() && self.dialer.renewed(enc.stats()) {
            self.close_session(enc);
            self.dialer.retry_now();
        }
        if self.stream.is_none() {
            let Some(stream) = self.dialer.dial(enc.stats()) else {
                return;
            };
            self.stream = Some(stream);
            enc.stats().set_ready(true);
            enc.new_session();
            for msg in enc.control() {
                if !self.write(&msg, enc) {
                    return;
                }
                enc.stats().sent(msg.len(), 0);
            }
        }
        while !self.pending.is_empty() {
            if self.until.is_some_and(|t| Instant::now() >= t) {
                return;
            }
            let take = self.pending.len().min(CHUNK);
            let chunk: Vec<FlowRecord> = self.pending.iter().take(take).cloned().collect();
            for msg in enc.data(&chunk) {
                if !self.write(&msg.bytes, enc) {
                    // The records of the failed message stay pending for the next connection.
                    return;
                }
                self.pending.drain(..msg.records as usize);
                enc.stats().set_buffered(self.pending.len());
                enc.stats().sent_data(&msg);
            }
        }
    }

    /// Drops a connection the collector closed, or one on which it spoke (it is not an
    /// IPFIX collector).
    fn look_at_peer(&mut self, enc: &Encoding) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        match self.dialer.peer(stream) {
            Peer::Open => return,
            Peer::Closed => {
                CollectorClosed {
                    addr: self.dialer.addr(),
                }
                .emit();
                self.dialer.retry_now();
            }
            Peer::Spoke(bytes) => {
                CollectorSpoke {
                    addr: self.dialer.addr(),
                    bytes: &bytes,
                }
                .emit(enc.stats());
                stream.close();
                self.dialer.broke();
            }
        }
        self.stream = None;
        enc.stats().set_ready(false);
    }

    /// Ends the session: the withdrawal of every template, then the connection closed.
    fn close_session(&mut self, enc: &mut Encoding) {
        let msg = enc.withdrawal();
        if self.write(&msg, enc) {
            enc.stats().sent(msg.len(), 0);
        }
        if let Some(mut stream) = self.stream.take() {
            stream.close();
        }
        enc.stats().set_ready(false);
    }

    /// Writes on the connection; on failure drops it and schedules a reconnect.
    fn write(&mut self, msg: &[u8], enc: &Encoding) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            return false;
        };
        match stream.send_message(msg) {
            Ok(()) => true,
            Err(error) => {
                ExportError {
                    collector: self.dialer.addr(),
                    error: &error,
                }
                .emit(enc.stats());
                self.stream = None;
                enc.stats().set_ready(false);
                self.dialer.broke();
                false
            }
        }
    }
}

impl<C: Connect> Transport for Stream<C> {
    fn ready_when_open(&self) -> bool {
        false
    }

    fn interval(&self) -> Option<Duration> {
        Some(RECONNECT_CHECK)
    }

    fn open(&mut self, enc: &mut Encoding) {
        self.flush(enc);
    }

    fn tick(&mut self, enc: &mut Encoding) {
        self.flush(enc);
    }

    fn send(&mut self, flows: Vec<FlowRecord>, enc: &mut Encoding) {
        for f in flows {
            if self.pending.len() >= self.capacity {
                self.pending.pop_front();
                enc.stats().lost(1);
            }
            self.pending.push_back(f);
        }
        enc.stats().set_buffered(self.pending.len());
        self.flush(enc);
    }

    fn drain(&mut self, enc: &mut Encoding, until: Option<Instant>) {
        // One last attempt now, whatever the backoff says, sending until `until`.
        self.dialer.retry_now();
        self.until = until;
        self.flush(enc);
        enc.stats().lost(self.pending.len() as u64);
        self.pending.clear();
        enc.stats().set_buffered(0);
        if self.stream.is_some() {
            let msg = enc.options();
            if self.write(&msg, enc) {
                enc.stats().sent(msg.len(), 0);
            }
        }
        if self.stream.is_some() {
            self.close_session(enc);
        }
    }
}
