#!/usr/bin/env python3
"""A small HTTP/1.x server for tests.

  web.py ADDR PORT DIR

GET serves the files of DIR (404 and a short text for anything else); POST reads the whole body and answers
with its length. Prints "listening" once bound, then serves until killed.
"""
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = os.path.join(self.server.root, self.path.lstrip("/"))
        if "/.." in self.path or not os.path.isfile(path):
            self.reply(404, b"not found\n")
            return
        with open(path, "rb") as f:
            body = f.read()
        self.reply(200, body)

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)
        self.reply(200, f"{int(self.headers.get('Content-Length', '0')) - left}\n".encode())

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    server = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)
    server.root = sys.argv[3]
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
