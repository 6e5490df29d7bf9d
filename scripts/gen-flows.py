#!/usr/bin/env python3
"""Synthetic capture for podflow's benchmarks: a pcap file and its ground truth.

Writes OUT, a classic libpcap file (little-endian, LINKTYPE_ETHERNET, microsecond
timestamps), then OUT.truth.json with the counts a flow meter must find in it. The truth
file is written last, once the capture is complete: its presence marks a finished capture
(scripts/bench-lib.sh relies on that). Python 3 standard library only; the same --seed
and --scale always give the same bytes.
"""

import argparse
import hashlib
import heapq
import ipaddress
import json
import math
import os
import random
import struct
import sys
import time

MIX_HELP = """\
traffic mix at --scale 1 (flow counts scale linearly, at least one of each kind; the
packets of elephants and media streams scale with them):
  20000 short IPv4 TCP sessions (web/API): handshake with a SYN carrying MSS, SACK-permitted,
        timestamps and window scale; a request; a response of 1 to ~80 segments that the
        client acknowledges every second segment (a server that thinks longer than 40 ms
        sends a pure delayed ACK first); FIN teardown, or 7% of them a client RST
  12    IPv4 TCP elephants, ~42,000 x 1448-byte segments each (ACK every 2 segments)
  2     IPv6 TCP elephants, ~21,000 x 1428-byte segments each (1500-byte MTU)
  30000 IPv4 DNS query/response pairs over UDP/53 (2% unanswered), 3000 over IPv6
  40    one-way RTP-like UDP media streams, DSCP EF, 5000 x 200-byte packets, 20 ms apart
  2000  QUIC-like bidirectional UDP/443 exchanges (1200-byte Initials, then data and acks)
  5000  refused connections: SYN then RST/ACK, a few scanners, each on distinct ports
  500   ICMP echo sessions (4 requests and replies, 1 s apart)
  200   ICMP port-unreachable answers to a UDP probe (the probe is a flow of its own)
  2000  short IPv6 TCP sessions (as the IPv4 ones) and 200 ICMPv6 echo sessions
  300   ARP request/reply pairs: non-IP frames, which a flow meter must skip
about 1.6 million frames and 1.25 GB at --scale 1. Flows start over 120 s and interleave
in time; every flow has its own 5-tuple, so the flow counts of the truth are exact.
Payloads are random bytes (no valid DNS, TLS or HTTP). Checksums (IPv4 header, TCP, UDP,
ICMP, ICMPv6) are correct; IP frames are not padded, so IP bytes = frame length - 14.

truth (OUT.truth.json), counted from the frames as they are written:
  frames, frame_bytes, pcap_file_bytes, non_ip_frames, ip_packets, ipv6_packets,
  ip_packets_by_proto {icmp, tcp, udp, icmp6}, ip_bytes_total (IP header + payload),
  uni_flows_5tuple (distinct src, dst, proto, src port, dst port), uni_flows_by_proto,
  ipv6_uni_flows, bi_flows (A->B joined with B->A with mirrored ports; a flow without a
  reverse is a biflow of its own), tcp_syn_pkts / tcp_fin_pkts / tcp_rst_pkts (packets
  with that flag set), first_ts / last_ts, flows_by_kind. ICMP and ICMPv6 flows are keyed
  with source port 0 and destination port type*256+code, so an echo request and its reply
  are two flows that never pair.
"""

# Full-scale counts. ELEPHANT_SEGMENTS and friends are totals over all flows of a kind:
# they scale with --scale and are shared among that kind's flows.
FULL = {
    "tcp4_short": 20000,
    "tcp4_elephant": 12,
    "tcp6_elephant": 2,
    "dns4": 30000,
    "dns6": 3000,
    "media": 40,
    "quic": 2000,
    "refused": 5000,
    "echo4": 500,
    "unreachable": 200,
    "tcp6_short": 2000,
    "echo6": 200,
    "arp": 300,
}
ELEPHANT4_SEGMENTS = 12 * 42000
ELEPHANT6_SEGMENTS = 2 * 21000
MEDIA_PACKETS = 40 * 5000
SCANNERS = 5
SPREAD_US = 120_000_000  # flows start within the first 120 s
EPOCH = 1_700_000_000  # capture time of offset 0 (2023-11-14)

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
DF = 0x4000
EF = 46 << 2  # DSCP EF in the TOS / traffic class byte
MSS4 = 1448  # 1500 - 20 (IPv4) - 20 (TCP) - 12 (timestamps)
MSS6 = 1428  # 1500 - 40 (IPv6) - 20 (TCP) - 12 (timestamps)

REC = struct.Struct("<IIII")  # pcap record header: seconds, microseconds, caplen, len
# Ethernet + IPv4 (no options) / IPv6 header, followed by a TCP header with the 12-byte
# NOP NOP timestamps option block, or by a UDP header.
V4_TCPTS = struct.Struct("!14sBBHHHBBH4s4sHHIIHHHHBBBBII")
V6_TCPTS = struct.Struct("!14sIHBB16s16sHHIIHHHHBBBBII")
V4_UDP = struct.Struct("!14sBBHHHBBH4s4sHHHH")
V6_UDP = struct.Struct("!14sIHBB16s16sHHHH")
V4_HDR = struct.Struct("!14sBBHHHBBH4s4s")
V6_HDR = struct.Struct("!14sIHBB16s16s")

# --- payload bytes and their checksums --------------------------------------------------
# Every payload is a prefix of FILL; PREFIX[n] is the ones'-complement-ready sum of the
# 16-bit big-endian words of FILL[:n], so a payload's share of a checksum costs a lookup.
FILL = b""
PREFIX = []
SLICES = []


def make_fill(seed):
    global FILL, PREFIX, SLICES
    FILL = random.Random(f"podflow-payload-{seed}").randbytes(2048)
    words = struct.unpack(f"!{len(FILL) // 2}H", FILL)
    even = [0]
    for w in words:
        even.append(even[-1] + w)
    PREFIX = [even[n >> 1] + ((FILL[n - 1] << 8) if n & 1 else 0) for n in range(len(FILL) + 1)]
    SLICES = [FILL[:n] for n in range(len(FILL) + 1)]


def word_sum(data):
    if len(data) & 1:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def fold(s):
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# --- hosts and one-way paths ----------------------------------------------------------
class Path:
    """One direction of a conversation: src -> dst, with what its headers share."""

    __slots__ = ("v6", "eth", "src", "dst", "tos", "ttl", "label", "ident", "ipsum", "addrsum")

    def __init__(self, src, dst, rng, tos=0, ttl=64):
        self.v6 = src.version == 6
        self.src, self.dst = src.packed, dst.packed
        ethertype = b"\x86\xdd" if self.v6 else b"\x08\x00"
        self.eth = mac_of(dst) + mac_of(src) + ethertype
        self.tos, self.ttl = tos, ttl
        self.label = rng.getrandbits(20)
        self.ident = rng.getrandbits(16)
        self.addrsum = word_sum(self.src + self.dst)
        # IPv4 header words that never change: version/IHL/TOS, flags, TTL, addresses.
        self.ipsum = ((0x45 << 8) | tos) + DF + (ttl << 8) + self.addrsum


def mac_of(ip):
    # Locally administered, derived from the address (as a CNI bridge might).
    return b"\x02\x42" + ip.packed[-4:]


def rec_header(ts, n):
    sec, usec = divmod(ts, 1_000_000)
    return REC.pack(EPOCH + sec, usec, n, n)


# --- frame builders -----------------------------------------------------------------
# Each returns a whole pcap record (record header + frame) as bytes.

def tcp_ts(p, ts, sp, dp, seq, ack, flags, n, tsval, tsecr, win):
    """TCP segment with the NOP NOP timestamps option, payload FILL[:n]."""
    seq &= 0xFFFFFFFF
    ack &= 0xFFFFFFFF
    tsval &= 0xFFFFFFFF
    l4 = 32 + n
    csum = fold(p.addrsum + TCP + l4 + sp + dp + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16)
                + (ack & 0xFFFF) + (0x8000 | flags) + win + 0x0101 + 0x080A + (tsval >> 16)
                + (tsval & 0xFFFF) + (tsecr >> 16) + (tsecr & 0xFFFF) + PREFIX[n])
    if p.v6:
        hdr = V6_TCPTS.pack(p.eth, 0x60000000 | (p.tos << 20) | p.label, l4, TCP, p.ttl,
                            p.src, p.dst, sp, dp, seq, ack, 0x8000 | flags, win, csum, 0,
                            1, 1, 8, 10, tsval, tsecr)
        return rec_header(ts, 54 + l4) + hdr + SLICES[n]
    ident = p.ident = (p.ident + 1) & 0xFFFF
    total = 20 + l4
    hdr = V4_TCPTS.pack(p.eth, 0x45, p.tos, total, ident, DF, p.ttl, TCP,
                        fold(p.ipsum + TCP + total + ident), p.src, p.dst, sp, dp, seq, ack,
                        0x8000 | flags, win, csum, 0, 1, 1, 8, 10, tsval, tsecr)
    return rec_header(ts, 14 + total) + hdr + SLICES[n]


def udp(p, ts, sp, dp, n):
    """UDP datagram with payload FILL[:n]."""
    l4 = 8 + n
    csum = fold(p.addrsum + UDP + l4 + sp + dp + l4 + PREFIX[n]) or 0xFFFF
    if p.v6:
        hdr = V6_UDP.pack(p.eth, 0x60000000 | (p.tos << 20) | p.label, l4, UDP, p.ttl,
                          p.src, p.dst, sp, dp, l4, csum)
        return rec_header(ts, 54 + l4) + hdr + SLICES[n]
    ident = p.ident = (p.ident + 1) & 0xFFFF
    total = 20 + l4
    hdr = V4_UDP.pack(p.eth, 0x45, p.tos, total, ident, DF, p.ttl, UDP,
                      fold(p.ipsum + UDP + total + ident), p.src, p.dst, sp, dp, l4, csum)
    return rec_header(ts, 14 + total) + hdr + SLICES[n]


def ip_packet(p, ts, proto, l4, csum_at, pseudo=True, df=True):
    """Any IP packet from its transport bytes (checksum field zero at csum_at)."""
    s = word_sum(l4)
    if pseudo:
        s += p.addrsum + proto + len(l4)
    c = fold(s)
    if proto == UDP and c == 0:
        c = 0xFFFF
    l4 = l4[:csum_at] + struct.pack("!H", c) + l4[csum_at + 2:]
    if p.v6:
        hdr = V6_HDR.pack(p.eth, 0x60000000 | (p.tos << 20) | p.label, len(l4), proto, p.ttl,
                          p.src, p.dst)
    else:
        ident = p.ident = (p.ident + 1) & 0xFFFF
        total = 20 + len(l4)
        flags = DF if df else 0
        words = ((0x45 << 8) | p.tos) + total + ident + flags + (p.ttl << 8) + proto + p.addrsum
        hdr = V4_HDR.pack(p.eth, 0x45, p.tos, total, ident, flags, p.ttl, proto, fold(words),
                          p.src, p.dst)
    return rec_header(ts, len(hdr) + len(l4)) + hdr + l4


def tcp_syn(p, ts, sp, dp, seq, ack, flags, tsval, tsecr, win, mss):
    """SYN or SYN/ACK: MSS, SACK permitted, timestamps, NOP, window scale 7."""
    opts = struct.pack("!BBHBBBBIIBBBB", 2, 4, mss, 4, 2, 8, 10, tsval & 0xFFFFFFFF, tsecr,
                       1, 3, 3, 7)
    hdr = struct.pack("!HHIIHHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      0xA000 | flags, win, 0, 0)
    return ip_packet(p, ts, TCP, hdr + opts, 16)


def tcp_bare(p, ts, sp, dp, seq, ack, flags, win):
    """A TCP header without options (a RST/ACK refusing a connection)."""
    hdr = struct.pack("!HHIIHHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      0x5000 | flags, win, 0, 0)
    return ip_packet(p, ts, TCP, hdr, 16)


def echo(p, ts, typ, ident, seq, n):
    """ICMP (IPv4) or ICMPv6 echo message with n bytes of data."""
    body = struct.pack("!BBHHH", typ, 0, 0, ident, seq) + SLICES[n]
    return ip_packet(p, ts, ICMP6 if p.v6 else ICMP, body, 2, pseudo=p.v6)


def arp(ts, op, smac, sip, tmac, tip):
    dmac = b"\xff" * 6 if op == 1 else tmac
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, smac, sip,
                       b"\0" * 6 if op == 1 else tmac, tip)
    frame = dmac + smac + b"\x08\x06" + body + b"\0" * 18  # padded to 60 bytes
    return rec_header(ts, len(frame)) + frame


# --- flows --------------------------------------------------------------------------
# A flow is a generator of (timestamp in microseconds, pcap record), in time order; its
# first timestamp is its start.

def tcp_session(t, rng, c2s, s2c, cport, sport, rtt, request, response, close, think, mss):
    """Short request/response TCP connection, client side c2s."""
    events = []
    add = events.append
    isn_c, isn_s = rng.getrandbits(32), rng.getrandbits(32)
    clk_c, clk_s = rng.getrandbits(31), rng.getrandbits(31)
    ms = lambda clk, at: clk + at // 1000  # noqa: E731 (the TCP timestamp clocks tick in ms)
    win_c, win_s = 502, 509

    add((t, tcp_syn(c2s, t, cport, sport, isn_c, 0, SYN, ms(clk_c, t), 0, 64240, mss + 12)))
    t1 = t + rtt
    add((t1, tcp_syn(s2c, t1, sport, cport, isn_s, isn_c + 1, SYN | ACK, ms(clk_s, t1),
                     ms(clk_c, t), 65160, mss + 12)))
    t2 = t1 + rng.randint(15, 80)
    c_seq, s_seq = isn_c + 1, isn_s + 1
    add((t2, tcp_ts(c2s, t2, cport, sport, c_seq, s_seq, ACK, 0, ms(clk_c, t2), ms(clk_s, t1),
                    win_c)))
    t3 = t2 + rng.randint(20, 400)
    add((t3, tcp_ts(c2s, t3, cport, sport, c_seq, s_seq, PSH | ACK, request, ms(clk_c, t3),
                    ms(clk_s, t1), win_c)))
    c_seq += request
    seen_c = ms(clk_c, t3)  # latest client timestamp the server has seen
    if think > 40_000:  # the server's delayed ACK fires before its answer is ready
        ta = t3 + rtt + 40_000
        add((ta, tcp_ts(s2c, ta, sport, cport, s_seq, c_seq, ACK, 0, ms(clk_s, ta), seen_c,
                        win_s)))
    t = t3 + rtt + think
    gap = rng.randint(25, 140)
    left = response
    segs = 0
    last_ack = t3
    while left > 0:
        n = min(mss, left)
        left -= n
        segs += 1
        flags = PSH | ACK if left == 0 else ACK
        add((t, tcp_ts(s2c, t, sport, cport, s_seq, c_seq, flags, n, ms(clk_s, t), seen_c,
                       win_s)))
        s_seq += n
        if segs % 2 == 0:  # the client acknowledges every second full segment
            ta = t + rng.randint(8, 20)
            last_ack = ta
            add((ta, tcp_ts(c2s, ta, cport, sport, c_seq, s_seq, ACK, 0, ms(clk_c, ta),
                            ms(clk_s, t), win_c)))
        last_seg = t
        t += gap + rng.randint(0, gap)
    # The client reads the answer, then closes (its FIN also acknowledges an odd last one).
    t = max(last_seg, last_ack) + rng.randint(100, 3000)
    if close == "rst":
        add((t, tcp_ts(c2s, t, cport, sport, c_seq, s_seq, RST | ACK, 0, ms(clk_c, t),
                       ms(clk_s, last_seg), win_c)))
    else:
        add((t, tcp_ts(c2s, t, cport, sport, c_seq, s_seq, FIN | ACK, 0, ms(clk_c, t),
                       ms(clk_s, last_seg), win_c)))
        t1 = t + rtt
        add((t1, tcp_ts(s2c, t1, sport, cport, s_seq, c_seq + 1, FIN | ACK, 0, ms(clk_s, t1),
                        ms(clk_c, t), win_s)))
        t2 = t1 + rng.randint(10, 60)
        add((t2, tcp_ts(c2s, t2, cport, sport, c_seq + 1, s_seq + 1, ACK, 0, ms(clk_c, t2),
                        ms(clk_s, t1), win_c)))
    events.sort(key=lambda e: e[0])
    yield from events


def tcp_elephant(t, rng, c2s, s2c, cport, sport, mss, rtt, segments, gap):
    """Bulk download: handshake, request, `segments` full segments from the server with
    an ACK from the client every two, FIN teardown. Generated lazily."""
    isn_c, isn_s = rng.getrandbits(32), rng.getrandbits(32)
    clk_c, clk_s = rng.getrandbits(31), rng.getrandbits(31)
    win_c, win_s = 2048, 509
    yield t, tcp_syn(c2s, t, cport, sport, isn_c, 0, SYN, clk_c + t // 1000, 0, 64240,
                     mss + 12)
    t1 = t + rtt
    yield t1, tcp_syn(s2c, t1, sport, cport, isn_s, isn_c + 1, SYN | ACK, clk_s + t1 // 1000,
                      clk_c + t // 1000, 65160, mss + 12)
    t2 = t1 + 40
    c_seq, s_seq = isn_c + 1, isn_s + 1
    yield t2, tcp_ts(c2s, t2, cport, sport, c_seq, s_seq, ACK, 0, clk_c + t2 // 1000,
                     clk_s + t1 // 1000, win_c)
    t3 = t2 + 150
    request = 180 + rng.randrange(200)
    yield t3, tcp_ts(c2s, t3, cport, sport, c_seq, s_seq, PSH | ACK, request,
                     clk_c + t3 // 1000, clk_s + t1 // 1000, win_c)
    c_seq += request
    seen_c = clk_c + t3 // 1000
    t = t3 + rtt + 300
    lo, hi = gap // 2, gap + gap // 2
    randint = rng.randint
    for i in range(1, segments + 1):
        yield t, tcp_ts(s2c, t, sport, cport, s_seq, c_seq, PSH | ACK if i == segments else ACK,
                        mss, clk_s + t // 1000, seen_c, win_s)
        s_seq += mss
        if i % 2 == 0:
            ta = t + randint(10, 30)
            seen_c = clk_c + ta // 1000
            yield ta, tcp_ts(c2s, ta, cport, sport, c_seq, s_seq, ACK, 0, seen_c,
                             clk_s + t // 1000, win_c)
        last = t
        t += randint(lo, hi)
    t = last + 200
    yield t, tcp_ts(c2s, t, cport, sport, c_seq, s_seq, FIN | ACK, 0, clk_c + t // 1000,
                    clk_s + last // 1000, win_c)
    t1 = t + rtt
    yield t1, tcp_ts(s2c, t1, sport, cport, s_seq, c_seq + 1, FIN | ACK, 0, clk_s + t1 // 1000,
                     clk_c + t // 1000, win_s)
    t2 = t1 + 30
    yield t2, tcp_ts(c2s, t2, cport, sport, c_seq + 1, s_seq + 1, ACK, 0, clk_c + t2 // 1000,
                     clk_s + t1 // 1000, win_c)


def tcp_refused(t, rng, c2s, s2c, cport, sport, rtt):
    isn = rng.getrandbits(32)
    yield t, tcp_syn(c2s, t, cport, sport, isn, 0, SYN, rng.getrandbits(31), 0, 1024, 1448)
    t += rtt
    yield t, tcp_bare(s2c, t, sport, cport, 0, isn + 1, RST | ACK, 0)


def dns(t, rng, q, r, cport, answered, delay):
    yield t, udp(q, t, cport, 53, 28 + rng.randrange(40))
    if answered:
        t += delay
        yield t, udp(r, t, 53, cport, 60 + rng.randrange(200))


def media(t, rng, p, sport, dport, packets):
    for _ in range(packets):
        yield t, udp(p, t, sport, dport, 172)  # RTP header + 20 ms of G.711
        t += 19_000 + rng.randrange(2000)


def quic(t, rng, c2s, s2c, cport, rtt, rounds):
    """Initial and handshake, then `rounds` of server data answered by small acks."""
    yield t, udp(c2s, t, cport, 443, 1200)
    t += rtt
    for n in (1200, 1200, 300 + rng.randrange(600)):
        yield t, udp(s2c, t, 443, cport, n)
        t += 30 + rng.randrange(60)
    yield t, udp(c2s, t, cport, 443, 1200)  # client Handshake, padded
    t += 200
    yield t, udp(c2s, t, cport, 443, 60 + rng.randrange(200))  # the request
    t += rtt
    for _ in range(rounds):
        burst = 1 + rng.randrange(6)
        for i in range(burst):
            yield t, udp(s2c, t, 443, cport, 1250 if i < burst - 1 else 200 + rng.randrange(1000))
            t += 40 + rng.randrange(80)
        yield t, udp(c2s, t, cport, 443, 30 + rng.randrange(20))
        t += rtt // 2 + rng.randrange(2000)
    yield t, udp(c2s, t, cport, 443, 30)  # CONNECTION_CLOSE
    t += rtt
    yield t, udp(s2c, t, 443, cport, 30)


def ping(t, rng, req, rep, rtt, count):
    ident = rng.getrandbits(16)
    typ_req, typ_rep = (128, 129) if req.v6 else (8, 0)
    for seq in range(1, count + 1):
        yield t, echo(req, t, typ_req, ident, seq, 56)
        r = t + rtt + rng.randrange(rtt // 4 + 1)
        yield r, echo(rep, r, typ_rep, ident, seq, 56)
        t += 1_000_000 + rng.randrange(3000)


def unreachable(t, rng, probe, icmp, cport, dport, rtt):
    """A UDP datagram to a closed port and the ICMP port unreachable that answers it."""
    rec = udp(probe, t, cport, dport, 32)
    yield t, rec
    # RFC 792 asks for the IP header and 8 bytes of data; like Linux (RFC 1812 4.3.2.3),
    # quote the whole datagram, since it is short.
    quoted = rec[16 + 14:]
    t += rtt
    body = struct.pack("!BBHI", 3, 3, 0, 0) + quoted
    yield t, ip_packet(icmp, t, ICMP, body, 2, pseudo=False, df=False)


def arp_exchange(t, rng, asker, target):
    a_mac, t_mac = mac_of(asker), mac_of(target)
    yield t, arp(t, 1, a_mac, asker.packed, b"", target.packed)
    t += 30 + rng.randrange(300)
    yield t, arp(t, 2, t_mac, target.packed, a_mac, asker.packed)


# --- the plan -----------------------------------------------------------------------
class Plan:
    """Addresses, ports and start times of every flow; checks that 5-tuples are unique."""

    def __init__(self, rng):
        self.rng = rng
        self.flows = []  # (start, uid, kind, generator function, args)
        self.claimed = set()
        self.next_port = {}
        self.directions = 0  # one-way flows the plan means to send

    def pods4(self, n):
        base = int(ipaddress.ip_address("10.244.0.0"))
        return [ipaddress.ip_address(base + (i // 250) * 256 + 2 + i % 250) for i in range(n)]

    def hosts(self, prefix, n, first=1):
        net = ipaddress.ip_network(prefix)
        return [net[first + i] for i in range(n)]

    def ephemeral(self, ip):
        port = self.next_port.get(ip)
        if port is None:
            port = 32768 + self.rng.randrange(24000)
        if port > 65535:
            port = 32768
        self.next_port[ip] = port + 1
        return port

    def claim(self, proto, a, ap, b, bp, both):
        for key in ((proto, a, ap, b, bp), (proto, b, bp, a, ap)):
            if key in self.claimed:
                raise SystemExit(f"gen-flows: internal error: 5-tuple {key} used twice")
            self.claimed.add(key)
        self.directions += 2 if both else 1

    def add(self, start, kind, fn, *args):
        self.flows.append((start, len(self.flows), kind, fn, args))

    def start(self):
        return self.rng.randrange(SPREAD_US)


def build_plan(rng, scale):
    n = {k: max(1, round(v * scale)) for k, v in FULL.items()}
    plan = Plan(rng)
    pods4 = plan.pods4(4000)
    pods6 = plan.hosts("fd00:10:244::/64", 1000, first=2)
    web4 = plan.hosts("10.96.1.0/24", 120)
    web6 = plan.hosts("fd00:10:96:1::/64", 40)
    dns4, dns6 = ipaddress.ip_address("10.96.0.10"), ipaddress.ip_address("fd00:10:96::a")
    bulk4 = plan.hosts("192.0.2.0/24", 30)
    bulk6 = plan.hosts("2001:db8:b::/64", 4)
    remote4 = plan.hosts("203.0.113.0/24", 200)
    quic4 = plan.hosts("198.51.100.0/24", 50)
    nodes4 = plan.hosts("10.245.0.0/16", 2000)
    nodes6 = plan.hosts("fd00:10:245::/64", 500)
    closed4 = plan.hosts("10.96.2.0/24", 100)
    web_ports = (80, 8080, 443, 8443, 9090, 5432, 6379, 3000)
    r = rng

    def tcp_short(kind, pods, servers, mss):
        c = r.choice(pods)
        s = r.choice(servers)
        cp, sp = plan.ephemeral(c), r.choice(web_ports)
        plan.claim(TCP, c, cp, s, sp, True)
        c2s, s2c = Path(c, s, r), Path(s, c, r)
        request = 120 + r.randrange(800)
        response = max(100, min(120_000, int(r.lognormvariate(math.log(5500), 1.2))))
        think = int(r.expovariate(1 / 12_000))
        close = "rst" if r.random() < 0.07 else "fin"
        plan.add(plan.start(), kind, tcp_session, r, c2s, s2c, cp, sp,
                 100 + r.randrange(1900), request, response, close, think, mss)

    for _ in range(n["tcp4_short"]):
        tcp_short("tcp4_short", pods4, web4, MSS4)
    for _ in range(n["tcp6_short"]):
        tcp_short("tcp6_short", pods6, web6, MSS6)

    for kind, total, pods, servers, mss in (
            ("tcp4_elephant", ELEPHANT4_SEGMENTS, pods4, bulk4, MSS4),
            ("tcp6_elephant", ELEPHANT6_SEGMENTS, pods6, bulk6, MSS6)):
        count = n[kind]
        each = max(40, round(total * scale / count))
        for i in range(count):
            c, s = r.choice(pods), servers[i % len(servers)]
            cp, sp = plan.ephemeral(c), 443 if i % 3 else 80
            plan.claim(TCP, c, cp, s, sp, True)
            segments = max(20, round(each * r.uniform(0.75, 1.25)))
            gap = r.randint(900, 2000)  # mean gap between segments, microseconds
            plan.add(r.randrange(SPREAD_US // 2), kind, tcp_elephant, r, Path(c, s, r),
                     Path(s, c, r, ttl=54), cp, sp, mss, 5000 + r.randrange(30000),
                     segments, gap)

    for kind, pods, server in (("dns4", pods4, dns4), ("dns6", pods6, dns6)):
        for _ in range(n[kind]):
            c = r.choice(pods)
            cp = plan.ephemeral(c)
            answered = r.random() >= 0.02
            plan.claim(UDP, c, cp, server, 53, answered)
            delay = 150 + r.randrange(2500) if r.random() < 0.85 else 5000 + r.randrange(40000)
            plan.add(plan.start(), kind, dns, r, Path(c, server, r), Path(server, c, r),
                     cp, answered, delay)

    count = n["media"]
    each = max(10, round(MEDIA_PACKETS * scale / count))
    for i in range(count):
        c, s = r.choice(pods4), remote4[i % len(remote4)]
        sp, dp = plan.ephemeral(c), 20000 + 2 * r.randrange(5000)
        plan.claim(UDP, c, sp, s, dp, False)
        plan.add(r.randrange(SPREAD_US // 2), "media", media, r, Path(c, s, r, tos=EF),
                 sp, dp, each)

    for _ in range(n["quic"]):
        c, s = r.choice(pods4), r.choice(quic4)
        cp = plan.ephemeral(c)
        plan.claim(UDP, c, cp, s, 443, True)
        plan.add(plan.start(), "quic", quic, r, Path(c, s, r), Path(s, c, r, ttl=52), cp,
                 8000 + r.randrange(40000), 2 + r.randrange(12))

    # A handful of scanners, each probing ports of its own target once, in port order.
    total = n["refused"]
    scanners = max(1, round(SCANNERS * scale))
    scanned = plan.hosts("10.97.0.0/16", scanners)
    for k in range(scanners):
        share = total // scanners + (1 if k < total % scanners else 0)
        c, s = pods4[-1 - k % len(pods4)], scanned[k]
        cp = 40000 + r.randrange(20000)
        t = plan.start()
        for dp in sorted(r.sample(range(1, 65536), share)):
            plan.claim(TCP, c, cp, s, dp, True)
            plan.add(t, "refused", tcp_refused, r, Path(c, s, r), Path(s, c, r), cp, dp,
                     80 + r.randrange(400))
            t += 500 + r.randrange(3000)

    def pairs(a, b, count):
        """`count` distinct (a[i], b[j]) pairs: ICMP flows have no ports to tell them apart."""
        return [(a[x // len(b)], b[x % len(b)]) for x in r.sample(range(len(a) * len(b)), count)]

    for kind, pods, targets in (("echo4", pods4, nodes4), ("echo6", pods6, nodes6)):
        proto, req, rep = (ICMP6, 128, 129) if kind == "echo6" else (ICMP, 8, 0)
        for c, s in pairs(pods, targets, n[kind]):
            plan.claim(proto, c, 0, s, req << 8, False)
            plan.claim(proto, s, 0, c, rep << 8, False)
            plan.add(plan.start(), kind, ping, r, Path(c, s, r), Path(s, c, r),
                     200 + r.randrange(3000), 4)

    for i, (c, s) in enumerate(pairs(pods4, closed4, n["unreachable"])):
        cp, dp = plan.ephemeral(c), 33434 + i % 100
        plan.claim(UDP, c, cp, s, dp, False)
        plan.claim(ICMP, s, 0, c, (3 << 8) | 3, False)
        icmp = Path(s, c, r, tos=0xC0)  # an ICMP error is network control traffic (CS6)
        plan.add(plan.start(), "unreachable", unreachable, r, Path(c, s, r), icmp, cp, dp,
                 100 + r.randrange(1500))

    gateway = ipaddress.ip_address("10.244.0.1")
    for _ in range(n["arp"]):
        plan.add(plan.start(), "arp", arp_exchange, r, r.choice(pods4), gateway)

    return plan


# --- writing ------------------------------------------------------------------------
def generate(out, seed, scale):
    rng = random.Random(seed)
    make_fill(seed)
    plan = build_plan(rng, scale)
    flows = sorted(plan.flows, key=lambda f: (f[0], f[1]))
    kinds = {}
    for f in flows:
        kinds[f[2]] = kinds.get(f[2], 0) + 1

    by_proto4 = [0] * 256
    by_proto6 = [0] * 256
    uni = set()
    frames = frame_bytes = non_ip = non_ip_bytes = syn = fin = rst = 0
    first_ts = last_ts = None

    heap = []
    i, nflows = 0, len(flows)
    chunk, chunk_bytes = [], 0
    with open(out, "wb", buffering=0) as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        file_bytes = 24
        while True:
            limit = heap[0][0] if heap else (flows[i][0] if i < nflows else None)
            if limit is None:
                break
            while i < nflows and flows[i][0] <= limit:
                start, uid, _kind, fn, args = flows[i]
                i += 1
                gen = fn(start, *args)
                ts, rec = next(gen)
                heapq.heappush(heap, (ts, uid, rec, gen))
            ts, uid, rec, gen = heap[0]
            nxt = next(gen, None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt[0], uid, nxt[1], gen))

            if last_ts is not None and ts < last_ts:
                raise SystemExit("gen-flows: internal error: time went backwards")
            if first_ts is None:
                first_ts = ts
            last_ts = ts
            size = len(rec) - 16
            frames += 1
            frame_bytes += size
            chunk.append(rec)
            chunk_bytes += len(rec)
            if chunk_bytes >= 8 << 20:
                f.write(b"".join(chunk))
                file_bytes += chunk_bytes
                chunk, chunk_bytes = [], 0
            # Count what a flow meter sees, from the frame itself.
            if rec[28] == 0x08 and rec[29] == 0x00:
                proto = rec[39]
                by_proto4[proto] += 1
                if proto == ICMP:
                    uni.add((4, proto, rec[42:50], b"\0\0" + rec[50:52]))
                else:
                    uni.add((4, proto, rec[42:50], rec[50:54]))
                    if proto == TCP:
                        flags = rec[63]
                        syn += (flags & SYN) >> 1
                        fin += flags & FIN
                        rst += (flags & RST) >> 2
            elif rec[28] == 0x86 and rec[29] == 0xDD:
                proto = rec[36]
                by_proto6[proto] += 1
                if proto == ICMP6:
                    uni.add((6, proto, rec[38:70], b"\0\0" + rec[70:72]))
                else:
                    uni.add((6, proto, rec[38:70], rec[70:74]))
                    if proto == TCP:
                        flags = rec[83]
                        syn += (flags & SYN) >> 1
                        fin += flags & FIN
                        rst += (flags & RST) >> 2
            else:
                non_ip += 1
                non_ip_bytes += size
        f.write(b"".join(chunk))
        file_bytes += chunk_bytes
        os.fsync(f.fileno())
    return dict(plan=plan, kinds=kinds, by_proto4=by_proto4, by_proto6=by_proto6, uni=uni,
                frames=frames, frame_bytes=frame_bytes, file_bytes=file_bytes, non_ip=non_ip,
                non_ip_bytes=non_ip_bytes,
                syn=syn, fin=fin, rst=rst, first_ts=first_ts, last_ts=last_ts)


# --- the truth ----------------------------------------------------------------------
PROTO_NAMES = {ICMP: "icmp", TCP: "tcp", UDP: "udp", ICMP6: "icmp6"}


def truth_of(out, seed, scale, r):
    uni = r["uni"]
    if len(uni) != r["plan"].directions:
        raise SystemExit(f"gen-flows: internal error: {len(uni)} one-way flows in the capture, "
                         f"{r['plan'].directions} planned (a 5-tuple was shared)")
    pairs = 0
    uni_by_proto = {}
    v6_uni = 0
    for key in uni:
        v, proto, addrs, ports = key
        half = len(addrs) // 2
        rev = (v, proto, addrs[half:] + addrs[:half], ports[2:] + ports[:2])
        if rev in uni and key < rev:
            pairs += 1
        name = PROTO_NAMES[proto]
        uni_by_proto[name] = uni_by_proto.get(name, 0) + 1
        v6_uni += v == 6
    by_proto = {}
    for counts in (r["by_proto4"], r["by_proto6"]):
        for proto, c in enumerate(counts):
            if c:
                name = PROTO_NAMES[proto]
                by_proto[name] = by_proto.get(name, 0) + c
    ip_packets = sum(by_proto.values())
    with open(__file__, "rb") as src:
        gen_hash = hashlib.sha256(src.read()).hexdigest()
    return {
        "pcap": os.path.basename(out),
        "generator": "scripts/gen-flows.py",
        "generator_sha256": gen_hash,
        "args": {"seed": seed, "scale": scale},
        "frames": r["frames"],
        "frame_bytes": r["frame_bytes"],
        "pcap_file_bytes": r["file_bytes"],
        "non_ip_frames": r["non_ip"],
        "ip_packets": ip_packets,
        "ipv6_packets": sum(r["by_proto6"]),
        "ip_packets_by_proto": dict(sorted(by_proto.items())),
        "ip_bytes_total": r["frame_bytes"] - 14 * ip_packets - r["non_ip_bytes"],
        "uni_flows_5tuple": len(uni),
        "uni_flows_by_proto": dict(sorted(uni_by_proto.items())),
        "ipv6_uni_flows": v6_uni,
        "bi_flows": len(uni) - pairs,
        "tcp_syn_pkts": r["syn"],
        "tcp_fin_pkts": r["fin"],
        "tcp_rst_pkts": r["rst"],
        "first_ts": EPOCH + r["first_ts"] / 1e6,
        "last_ts": EPOCH + r["last_ts"] / 1e6,
        "flows_by_kind": dict(sorted(r["kinds"].items())),
        "note": "ip_bytes_total = sum of IP header + payload (frame length - 14 for IP frames); "
                "ICMP/ICMPv6 flows are keyed with src port 0, dst port type*256+code; "
                "tcp_*_pkts count packets with that flag set",
    }


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] + " See below for the traffic and the truth.",
        epilog=MIX_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, metavar="PATH", help="capture file to write")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiplies every count (default 1.0: about 1.6M frames)")
    a = ap.parse_args()
    if not a.scale > 0 or math.isinf(a.scale):
        ap.error("--scale must be a positive number")
    truth_path = a.out + ".truth.json"
    # A stale truth would mark a half-written capture as finished.
    if os.path.exists(truth_path):
        os.unlink(truth_path)
    began = time.monotonic()
    r = generate(a.out, a.seed, a.scale)
    truth = truth_of(a.out, a.seed, a.scale, r)
    tmp = truth_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    os.replace(tmp, truth_path)
    print(f"{a.out}: {truth['frames']} frames ({truth['non_ip_frames']} not IP), "
          f"{truth['ip_bytes_total']} IP bytes, {truth['uni_flows_5tuple']} uniflows, "
          f"{truth['bi_flows']} biflows, {truth['pcap_file_bytes']} bytes in "
          f"{time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
