//! The shared flow table.

/// The table.
pub struct FlowTable {}

/// Counters of the table.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableStats {}
