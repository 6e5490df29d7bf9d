#!/usr/bin/env python3
"""Writes a classic pcap (Ethernet) of a SYN flood with one steady TCP conversation in it.

Usage: syn-flood.py OUT SYNS [STEADY_EVERY]

  SYNS          distinct SYNs, each its own flow (10.x.y.z:port -> 10.200.0.1:80), one
                microsecond apart: none is answered, none times out within the file.
  STEADY_EVERY  after every this many SYNs (default 100000), one exchange of the steady
                conversation 10.1.0.1:40000 <-> 10.1.0.2:5001: 100 bytes of data and its
                ACK. It opens with a handshake before the first SYN and ends with FINs
                after the last, so that it is one flow from start to end. Its totals are
                printed on stdout as `steady packets=N octets=N` (IP octets). 0: no
                conversation, only the SYNs.
"""

import struct
import sys


def ipv4_tcp(src, dst, sport, dport, flags, payload=0):
    total = 20 + 20 + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 0xFFFF, 0, 0)
    frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp
    return frame + b"\x00" * payload, total


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    out, syns = sys.argv[1], int(sys.argv[2])
    every = int(sys.argv[3]) if len(sys.argv) == 4 else 100_000
    a, b = bytes([10, 1, 0, 1]), bytes([10, 1, 0, 2])
    target = bytes([10, 200, 0, 1])
    steady = [0, 0]
    t = [1_700_000_000 * 1_000_000]

    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

        def emit(frame):
            sec, usec = divmod(t[0], 1_000_000)
            f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            f.write(frame)
            t[0] += 1

        def conv(flags_ab, flags_ba, payload):
            for src, dst, sp, dp, fl, pl in (
                (a, b, 40000, 5001, flags_ab, payload),
                (b, a, 5001, 40000, flags_ba, 0),
            ):
                frame, octets = ipv4_tcp(src, dst, sp, dp, fl, pl)
                emit(frame)
                steady[0] += 1
                steady[1] += octets

        if every:
            conv(0x02, 0x12, 0)  # SYN, SYN-ACK
        for i in range(syns):
            src = struct.pack("!I", 0x0A00_0000 | (i >> 8))
            frame, _ = ipv4_tcp(src, target, 1024 + (i & 0xFF), 80, 0x02)
            emit(frame)
            if every and (i + 1) % every == 0:
                conv(0x18, 0x10, 100)  # PSH-ACK with data, ACK
        if every:
            conv(0x11, 0x11, 0)  # FIN-ACK both ways
    print(f"steady packets={steady[0]} octets={steady[1]}")


if __name__ == "__main__":
    main()
