//! Reader for pcap and pcapng files.
