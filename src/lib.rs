//! podflow: a network-flow probe for Kubernetes. Captures pod traffic, meters it into
//! flows and exports IPFIX records tagged with the pod's Kubernetes identity.
#![deny(unsafe_code)]

/// CAP_NET_RAW: raised at start, explained when a packet socket is refused.
pub mod capabilities;
/// Packet sources (pcap files, live interfaces) and the pure frame decoder.
pub mod capture;
/// PEM certificate, key and CA files for TLS, followed as they are renewed.
pub mod certs;
/// Command line: modes and global flags.
pub mod cli;
/// One cluster-wide view for the mediator: pods with the times they held their addresses,
/// Services, EndpointSlices, nodes; each end of a record named, and the traffic class.
pub mod cluster;
/// `podflow collect`: a small IPFIX collector printing JSON lines.
pub mod collect;
/// The root configuration, composed from each domain's own, and the one figment load.
pub mod config;
/// The exporter actor, its bounded hand-off and its transports (UDP, TCP, TLS, IPFIX file,
/// JSON on stdout).
pub mod export;
/// Flow keys, records, the shared flow table and the sweeper actor.
pub mod flow;
/// Who a flow record belongs to: the identity types shared by metadata, export and ipfix.
pub mod identity;
/// IPFIX (RFC 7011) information elements, templates, encoder and decoder.
pub mod ipfix;
/// Pure parsers of the first application bytes of a flow: DNS, HTTP/1.x, TLS (JA4, JA3).
pub mod l7;
/// The mediator: records from every exporter passed on with both ends named, from one
/// cluster-wide view.
pub mod mediator;
/// Who the observed pod is: identity from configuration and the Downward API.
pub mod metadata;
/// Wiring of each runtime mode's actor graph.
pub mod modes;
/// Node mode's capture across the pods' network namespaces.
pub mod node;
/// The probe pipeline: a source of packets, the flow table, the exporter, an attribution.
pub mod pipeline;
/// Values from outside quoted in warnings and log lines, cut to a bounded length.
pub mod quote;
/// What every configuration section shares.
pub mod section;
/// Logging initialisation and the named events that log and count.
pub mod telemetry;
/// The Mutating Admission Webhook Server.
pub mod webhook;
