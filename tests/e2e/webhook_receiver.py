"""A webhook receiver for the alert tests: each POST is verified with the Standard Webhooks
library (`standardwebhooks`, as a receiver in the field would), answered 204 when it verifies and
401 when it does not, and appended as one JSON line (verified or not, its id, timestamp and body)
to a file. Usage: webhook_receiver.py SECRET PORT OUT_FILE. Prints "ready" once listening."""

import http.server
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET, PORT, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hook = Webhook(SECRET)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            payload = hook.verify(body, headers)
            verified, error = True, None
        except WebhookVerificationError as e:
            payload, verified, error = None, False, str(e)
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "path": self.path,
                        "verified": verified,
                        "error": error,
                        "id": headers.get("webhook-id"),
                        "timestamp": headers.get("webhook-timestamp"),
                        "payload": payload,
                    }
                )
                + "\n"
            )
        self.send_response(204 if verified else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
