//! Matching non-first IP fragments to the ports of their first fragment.

/// Bounded map from (addresses, protocol, IP identification) to the ports of the first fragment.
#[derive(Debug, Default)]
pub struct FragmentTracker {}
