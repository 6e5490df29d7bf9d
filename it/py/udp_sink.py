#!/usr/bin/env python3
"""A minimal IPFIX-over-UDP collector for tests: appends every datagram it receives to a
file (IPFIX messages carry their own length, so the file reads like an IPFIX file).
Runs until killed.

usage: udp_sink.py BIND_ADDR PORT OUTFILE
"""
import socket
import sys

addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind((addr, port))
print("listening", flush=True)
with open(out, "ab", buffering=0) as f:
    while True:
        data, _ = s.recvfrom(65535)
        f.write(data)
