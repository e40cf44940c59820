"""
The runner's side of the protocol inside the Cog container: request signatures as shared/src/signing.ts makes them,
and the loopback sink that receives the runner's events and uploads for the predictions in flight.
"""

import hashlib
import hmac
import json
import os
import queue
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

SIGNATURE_WINDOW_S = 300


# ---- request signatures ---------------------------------------------------------------------------------------


def _canonical(method: str, path: str, timestamp: str, nonce: str, body_sha256: str) -> str:
    return f"v1\n{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body_sha256}"


def sign_request(secret: str, method: str, path: str, body: bytes) -> dict:
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    message = _canonical(method, path, timestamp, nonce, hashlib.sha256(body).hexdigest())
    sig = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return {"x-accdiff-timestamp": timestamp, "x-accdiff-nonce": nonce, "x-accdiff-signature": f"v1={sig}"}


def verify_request(secret: str, method: str, path: str, body_sha256: str, headers) -> bool:
    ts, nonce, sig = (headers.get(h) for h in ("x-accdiff-timestamp", "x-accdiff-nonce", "x-accdiff-signature"))
    if not ts or not nonce or not sig or not ts.isdigit() or abs(time.time() - int(ts)) > SIGNATURE_WINDOW_S:
        return False
    expected = hmac.new(secret.encode(), _canonical(method, path, ts, nonce, body_sha256).encode(), hashlib.sha256)
    return hmac.compare_digest(f"v1={expected.hexdigest()}", sig)


# ---- the sink: the runner's events and uploads for the jobs in flight ----------------------------------------------


class SinkJob:
    def __init__(self, job_id: str, attempt: int, folder: str):
        self.job_id, self.attempt, self.folder = job_id, attempt, folder
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.next_seq = 0
        self.uploads = {}  # relative key -> file path


class Sink:
    def __init__(self, secret: str):
        self.secret = secret
        self.jobs = {}
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):  # quiet: what matters is printed by predict()
                pass

            def _answer(self, status: int, body: Optional[dict] = None):
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _read(self) -> Optional[bytes]:
                length = self.headers.get("content-length")
                if length is None or not length.isdigit():
                    return None
                return self.rfile.read(int(length))

            def do_POST(self):
                sink.handle(self, "POST")

            def do_PUT(self):
                sink.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self, job_id: str, attempt: int, folder: str) -> SinkJob:
        with self.lock:
            j = self.jobs[(job_id, attempt)] = SinkJob(job_id, attempt, folder)
            return j

    def close(self, j: SinkJob):
        with self.lock:
            self.jobs.pop((j.job_id, j.attempt), None)

    def handle(self, h, method: str):
        body = h._read()
        if body is None:
            return h._answer(411, {"title": "Length required"})
        path = h.path
        if not verify_request(self.secret, method, path, hashlib.sha256(body).hexdigest(), h.headers):
            return h._answer(401, {"title": "Unauthorized"})
        parts = urllib.parse.urlsplit(path).path.strip("/").split("/")
        # /jobs/<id>/<attempt>/events   /jobs/<id>/<attempt>/artifacts/<kind>/<name>
        if len(parts) < 4 or parts[0] != "jobs" or not parts[2].isdigit():
            return h._answer(404, {"title": "Not found"})
        with self.lock:
            j = self.jobs.get((parts[1], int(parts[2])))
        if j is None:
            # The prediction ended (or never was): the runner should stop working on it.
            return h._answer(410, {"title": "Gone"})
        if method == "POST" and parts[3:] == ["events"]:
            try:
                event = json.loads(body)
            except ValueError:
                return h._answer(400, {"title": "Malformed JSON"})
            seq = event.get("seq")
            if isinstance(seq, int) and seq >= j.next_seq:
                j.next_seq = seq + 1
                j.events.put(event)
            return h._answer(200, {"result": "applied"})
        if method == "PUT" and len(parts) == 6 and parts[3] == "artifacts":
            kind, name = parts[4], parts[5]
            if not all(c.isalnum() or c in "._-" for c in kind + name):
                return h._answer(400, {"title": "Bad artifact name"})
            target = os.path.join(j.folder, f"{kind}--{name}")
            with open(target, "wb") as f:
                f.write(body)
            j.uploads[f"{kind}/{name}"] = target
            return h._answer(201, {"key": f"{kind}/{name}", "bytes": len(body)})
        return h._answer(404, {"title": "Not found"})
