"""The sign-in side of a local identity provider for the console's browser test: the OAuth 2.0
authorization code flow with PKCE (RFC 6749 section 4.1, RFC 7636 S256), over plain HTTP on
loopback.

    python login_server.py CONFIG.json

CONFIG names `dir` (where rsa.pem is, and where requests.log is written), `issuer`,
`client_id`, `redirect_uri`, `audience`, `subject`, `groups` and `origin` (the console's,
allowed to read the token answer). `/authorize` signs the configured user in at once (there is
no password page to drive) and sends the browser back with a one-time code; `/token` gives an
RS256 access token for that code only with the verifier whose S256 challenge came with it. Every
request and refusal is appended to requests.log as a JSON line. Prints its port on the first
line of stdout.
"""

import base64
import hashlib
import http.server
import json
import os
import secrets
import sys
import time
import urllib.parse

import jwt

codes: dict[str, dict] = {}


def conf() -> dict:
    """The configuration, read again on each request (the console's address is written into it
    once its server has started, after this one)."""
    with open(sys.argv[1], encoding="utf-8") as f:
        return json.load(f)


def log(entry: dict) -> None:
    with open(os.path.join(conf()["dir"], "requests.log"), "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status: int, body: dict, extra: dict | None = None) -> None:
        config = conf()
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Access-Control-Allow-Origin", config["origin"])
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        config = conf()
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/authorize":
            self.answer(404, {"error": "not_found"})
            return
        q = dict(urllib.parse.parse_qsl(url.query))
        log({"endpoint": "authorize", "params": q})
        problems = []
        if q.get("response_type") != "code":
            problems.append("response_type")
        if q.get("client_id") != config["client_id"]:
            problems.append("client_id")
        if q.get("redirect_uri") != config["redirect_uri"]:
            problems.append("redirect_uri")
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) < 43:
            problems.append("pkce")
        if not q.get("state"):
            problems.append("state")
        if problems:
            log({"endpoint": "authorize", "refused": problems})
            self.answer(400, {"error": "invalid_request", "error_description": ", ".join(problems)})
            return
        code = secrets.token_urlsafe(24)
        codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"], "at": time.time()}
        back = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q["state"]})
        self.send_response(302)
        self.send_header("Location", back)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        config = conf()
        if self.path != "/token":
            self.answer(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        grant = codes.pop(form.get("code", ""), None)
        problems = []
        if form.get("grant_type") != "authorization_code":
            problems.append("grant_type")
        if grant is None or time.time() - grant["at"] > 60:
            problems.append("code")
        elif form.get("redirect_uri") != grant["redirect_uri"]:
            problems.append("redirect_uri")
        elif s256(form.get("code_verifier", "")) != grant["challenge"]:
            problems.append("code_verifier")
        if form.get("client_id") != config["client_id"]:
            problems.append("client_id")
        log({"endpoint": "token", "fields": sorted(form), "resource": form.get("resource"), "refused": problems})
        if problems:
            self.answer(400, {"error": "invalid_grant", "error_description": ", ".join(problems)})
            return
        now = int(time.time())
        claims = {
            "iss": config["issuer"], "sub": config["subject"], "aud": config["audience"],
            "groups": config["groups"], "preferred_username": config["subject"],
            "iat": now, "nbf": now - 1, "exp": now + 300,
        }
        with open(os.path.join(config["dir"], "rsa.pem"), "rb") as f:
            signing_key = f.read()
        token = jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": "rsa-1"})
        self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})

    def log_message(self, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
