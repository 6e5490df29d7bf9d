#!/usr/bin/env python3
"""Test traffic with known sizes.

  traffic.py tcp-server ADDR PORT           accept connections forever; each: read until the
                                            peer half-closes, then send back as many bytes as
                                            the first 8 bytes (big endian) asked for, close
  traffic.py tcp-slow-server ADDR PORT SECS as tcp-server, but each connection's receive
                                            buffer is small and nothing is read for SECS
                                            seconds: the window closes to zero meanwhile
  traffic.py tcp-client ADDR PORT UP DOWN   send UP bytes (>= 8) asking for DOWN back, read
                                            them all, close; prints the local port
  traffic.py tcp-hold ADDR PORT             connect, send 100 bytes every 0.5 s until killed
  traffic.py udp-send ADDR PORT N SIZE      send N datagrams of SIZE bytes; prints local port
  traffic.py udp-echo ADDR PORT             echo datagrams back forever
  traffic.py udp-ask ADDR PORT N SIZE       send N datagrams of SIZE bytes, each once the echo
                                            of the one before is back; prints the local port
"""
import socket
import struct
import sys
import threading
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def tcp_server(addr, port, stall=0):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if stall:
        # Set before listen(), so accepted connections inherit it and scale their window
        # to it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind((addr, port))
    s.listen(64)
    print("listening", flush=True)

    def serve(c):
        time.sleep(stall)
        head = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            head += chunk[: max(0, 8 - len(head))]
        want = struct.unpack("!Q", head[:8])[0] if len(head) >= 8 else 0
        block = b"d" * 65536
        while want > 0:
            n = c.send(block[: min(want, len(block))])
            want -= n
        c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def tcp_client(addr, port, up, down):
    c = socket.create_connection((addr, port))
    print(c.getsockname()[1], flush=True)
    payload = struct.pack("!Q", down) + b"u" * (up - 8)
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    c.close()
    assert got == down, (got, down)


def tcp_hold(addr, port):
    c = socket.create_connection((addr, port))
    print(c.getsockname()[1], flush=True)
    c.sendall(struct.pack("!Q", 0))
    while True:
        c.sendall(b"h" * 100)
        time.sleep(0.5)


def udp_send(addr, port, n, size):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.connect((addr, port))
    print(s.getsockname()[1], flush=True)
    for _ in range(n):
        s.send(b"x" * size)
        time.sleep(0.002)


def udp_ask(addr, port, n, size):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((addr, port))
    print(s.getsockname()[1], flush=True)
    for _ in range(n):
        s.send(b"x" * size)
        assert len(s.recv(65535)) == size


def udp_echo(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    print("listening", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "tcp-server":
        tcp_server(args[0], int(args[1]))
    elif cmd == "tcp-slow-server":
        tcp_server(args[0], int(args[1]), float(args[2]))
    elif cmd == "tcp-client":
        tcp_client(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "tcp-hold":
        tcp_hold(args[0], int(args[1]))
    elif cmd == "udp-send":
        udp_send(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "udp-ask":
        udp_ask(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "udp-echo":
        udp_echo(args[0], int(args[1]))
    else:
        sys.exit(__doc__)
