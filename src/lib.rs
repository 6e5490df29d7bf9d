//! podflow: a network-flow probe for Kubernetes. Captures pod traffic, meters it into
//! flows and exports IPFIX records tagged with the pod's Kubernetes identity.
#![forbid(unsafe_code)]

/// Command line: modes and global flags.
pub mod cli;
/// The root configuration, composed from each domain's own, and the one figment load.
pub mod config;
/// Packet sources (pcap files, live interfaces) and the pure frame decoder.
pub mod capture;
/// Flow keys, records, the shared flow table and the sweeper actor.
pub mod flow;
/// IPFIX (RFC 7011) information elements, templates, encoder and decoder.
pub mod ipfix;
/// The exporter actor and its transports (UDP, TCP, IPFIX file, JSON on stdout).
pub mod export;
/// Who the observed pod is: identity from configuration and the Downward API.
pub mod metadata;
/// Logging initialisation and the named events that log and count.
pub mod telemetry;
/// Wiring of each runtime mode's actor graph.
pub mod modes;
