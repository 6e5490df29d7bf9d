//! collectors
