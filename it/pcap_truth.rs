//! pcap_truth
