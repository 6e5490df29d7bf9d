//! The sweeper actor: ends due flows on an interval and hands the records on to whoever
//! exports them, in batches of at most [`super::table::BATCH`].

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::{Clock, FlowRecord, FlowTable};

/// Where batches of ended flow records go.
pub type Finished = Box<dyn Fn(Vec<FlowRecord>)>;

/// Ends every live flow (forced end) and sends the records on. Answered once they are
/// queued at the exporter.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct FlushAll;

/// Ends the flows of these observation points (their network namespace is gone) and
/// sends the records on; answers how many.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct FlushPoints(pub Vec<u32>);

/// Owns the periodic sweep of the shared flow table.
pub struct Sweeper {
    table: Arc<FlowTable>,
    clock: Clock,
    interval: Duration,
    sink: Finished,
}

impl Sweeper {
    pub fn new(table: Arc<FlowTable>, clock: Clock, interval: Duration, sink: Finished) -> Self {
        Sweeper {
            table,
            clock,
            interval,
            sink,
        }
    }

    fn sweep(&mut self) {
        let sink = &self.sink;
        self.table
            .sweep_batches(self.clock.now(), &mut |batch| sink(batch));
    }
}

impl Actor for Sweeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let sweep_interval = self.interval;
        ctx.run_interval(sweep_interval, |this, _| this.sweep());
    }
}

impl Handler<FlushAll> for Sweeper {
    type Result = usize;

    fn handle(&mut self, _: FlushAll, _: &mut Self::Context) -> usize {
        let (sink, mut n) = (&self.sink, 0);
        self.table.flush_batches(self.clock.now(), &mut |batch| {
            n += batch.len();
            sink(batch);
        });
        n
    }
}

impl Handler<FlushPoints> for Sweeper {
    type Result = usize;

    fn handle(&mut self, msg: FlushPoints, _: &mut Self::Context) -> usize {
        let mut out = Vec::new();
        self.table.flush_points(&msg.0, self.clock.now(), &mut out);
        let n = out.len();
        if n > 0 {
            (self.sink)(out);
        }
        n
    }
}
