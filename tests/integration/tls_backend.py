#!/usr/bin/python3
"""A pod that serves HTTPS only (HTTP/1.1 keep-alive over TLS), for the appProtocol "https"
tests. Standard library only.

    tls_backend.py ADDR PORT CERT KEY

Prints "listening" once bound. Every request gets 200 and a JSON body: the method, path, Host,
the negotiated TLS version and the number of this connection (so a test can see reuse).
"""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

connections = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections
        connections += 1
        self.connection_number = connections
        super().setup()

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        body = json.dumps({"method": self.command, "path": self.path,
                           "host": self.headers.get("Host"),
                           "tls": self.connection.version(),
                           "connection": self.connection_number,
                           "body_bytes": len(body_in)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


def main():
    addr, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer((addr, port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
