#!/usr/bin/env python3
"""A fixed one-way delay for the packets of netfilter queues, for kernels without netem.

  nfq_delay.py QUEUE:MS [QUEUE:MS ...]

Binds each netfilter queue QUEUE (iptables -j NFQUEUE --queue-num QUEUE) and accepts each
of its packets MS milliseconds after it was queued, in the order they came: a wire that is
MS ms long. Prints "ready" once every queue is bound, then runs until killed.

Speaks nfnetlink_queue (include/uapi/linux/netfilter/nfnetlink_queue.h) over a raw
netlink socket; asks for the packets' metadata only, not their bytes.
"""
import collections
import os
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def message(kind, queue, attrs, flags=NLM_F_REQUEST):
    body = struct.pack("!BBH", socket.AF_UNSPEC, 0, queue) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, 0, 0) + body


def messages(data):
    """(type, payload after the netlink header) of each message in a datagram."""
    at = 0
    while at + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, at)
        if length < 16:
            return
        yield kind, data[at + 16 : at + length]
        at += (length + 3) & ~3


def pending(sock):
    """The messages waiting on the socket, without blocking."""
    while True:
        try:
            data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        yield from messages(data)


def attrs(payload):
    """{type: value} of the attributes after the nfgenmsg header."""
    out, at = {}, 4
    while at + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, at)
        if length < 4:
            break
        out[kind & 0x7FFF] = payload[at + 4 : at + length]
        at += (length + 3) & ~3
    return out


def configure(sock, queue):
    cmd = struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET)
    params = struct.pack("!IB", 0, NFQNL_COPY_META)
    maxlen = struct.pack("!I", 65536)
    for a in (attr(NFQA_CFG_CMD, cmd), attr(NFQA_CFG_PARAMS, params), attr(NFQA_CFG_QUEUE_MAXLEN, maxlen)):
        sock.send(message(NFQNL_MSG_CONFIG, queue, [a], NLM_F_REQUEST | NLM_F_ACK))
        for kind, payload in messages(sock.recv(65536)):
            if kind == NLMSG_ERROR:
                (err,) = struct.unpack_from("=i", payload)
                if err:
                    sys.exit(f"binding queue {queue}: {os.strerror(-err)}")


def main():
    delays = {}
    for spec in sys.argv[1:]:
        queue, ms = spec.split(":")
        delays[int(queue)] = float(ms) / 1000
    if not delays:
        sys.exit(__doc__)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((0, 0))
    for queue in delays:
        configure(sock, queue)
    print("ready", flush=True)
    held = {q: collections.deque() for q in delays}
    while True:
        now = time.monotonic()
        for queue, waiting in held.items():
            while waiting and waiting[0][0] <= now:
                _, packet_id = waiting.popleft()
                verdict = attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
                sock.send(message(NFQNL_MSG_VERDICT, queue, [verdict]))
        due = [w[0][0] for w in held.values() if w]
        timeout = max(0.0, min(due) - now) if due else None
        if not select.select([sock], [], [], timeout)[0]:
            continue
        now = time.monotonic()
        for kind, payload in pending(sock):
            if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET or len(payload) < 4:
                continue
            (queue,) = struct.unpack_from("!H", payload, 2)
            header = attrs(payload).get(NFQA_PACKET_HDR)
            if queue in held and header and len(header) >= 4:
                (packet_id,) = struct.unpack_from("!I", header)
                held[queue].append((now + delays[queue], packet_id))


if __name__ == "__main__":
    main()
