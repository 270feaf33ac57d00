"""A JWKS endpoint over HTTPS for cordon's identity tests (Python's standard library only).

    python3 jwks_server.py DIR CERT.pem KEY.pem

Serves DIR/jwks.json at /jwks.json with the given certificate; appends each request's path to
DIR/requests.log (so a test can count the fetches); prints its port on the first line of stdout.
"""

import http.server
import os
import ssl
import sys

directory, cert, key = sys.argv[1:4]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        with open(os.path.join(directory, "requests.log"), "a", encoding="utf-8") as log:
            log.write(self.path + "\n")
        if self.path != "/jwks.json":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(os.path.join(directory, "jwks.json"), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
