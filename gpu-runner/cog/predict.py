"""
The accdiff runner as a Cog predictor, for the worker's Replicate backend (worker/src/dispatch/replicate.ts).

setup() starts the TypeScript runner (`accdiff serve`) once on loopback with a secret of its own and waits until it
has loaded its bundle: the `weights` given to setup (a bundle folder, or a URL or path of a .tar/.tar.gz of one),
else BUNDLE_URL, else BUNDLE_DIR (a mounted bundle), else the toy world, which the runner builds itself.

predict(job) takes the RunnerJob the worker sends as the prediction's input, points its callback and upload URLs at
a small HTTP sink inside this process, and hands it to the runner signed exactly as the worker would sign it. The
runner's events come back to the sink (their signatures checked): progress is printed as tqdm-style lines, which
Replicate forwards in its `logs` webhooks and the worker parses; the images the runner uploads are returned as files,
which Replicate serves and names in its `completed` webhook. So the runner's events reach the worker through the
Replicate webhook path the worker already has, and this container needs no route to the worker except for the
signed resume and image links the job may carry. A cancel of the prediction cancels the job at the runner.
"""

import hashlib
import hmac
import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional

from cog import BaseModel, BasePredictor, CancelationException, Input, Path

# The repository (the Cog image's /src): gpu-runner/cog/predict.py -> ../..
APP_DIR = os.environ.get("ACCDIFF_APP_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_TIMEOUT_S = float(os.environ.get("ACCDIFF_READY_TIMEOUT_S", "900"))
# A job whose runner says nothing for this long is given up on (the runner repeats itself every minute at least).
SILENCE_TIMEOUT_S = float(os.environ.get("ACCDIFF_SILENCE_TIMEOUT_S", "300"))
SIGNATURE_WINDOW_S = 300


class Output(BaseModel):
    final_image: Path
    # The image of each phase this prediction computed, in phase order, and the phase (scale) of each.
    phase_images: List[Path]
    phases: List[int]
    # The runner's `completed` event as JSON: size, phases computed, model evaluations, timings, warnings.
    summary: str


class RunnerError(RuntimeError):
    pass


# A failure another attempt may not meet (the runner died, went silent, or said so): the prediction's error starts
# with this, and the worker dispatches the job again instead of failing it (worker/src/jobs/replicateUpdate.ts).
RETRYABLE = "retryable: "


class RetryableRunnerError(RunnerError):
    def __init__(self, reason: str):
        super().__init__(RETRYABLE + reason)


# ---- the runner protocol's request signature (shared/src/signing.ts) ----------------------------------------------


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


class _Job:
    def __init__(self, job_id: str, attempt: int, folder: str):
        self.job_id, self.attempt, self.folder = job_id, attempt, folder
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.next_seq = 0
        self.uploads = {}  # relative key -> file path


class _Sink:
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

    def open(self, job_id: str, attempt: int, folder: str) -> _Job:
        with self.lock:
            j = self.jobs[(job_id, attempt)] = _Job(job_id, attempt, folder)
            return j

    def close(self, j: _Job):
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


# ---- the bundle ---------------------------------------------------------------------------------------------------


def _bundle_root(folder: str) -> str:
    """The folder holding bundle.json inside an extracted archive (at its top or one level down)."""
    if os.path.isfile(os.path.join(folder, "bundle.json")):
        return folder
    for entry in sorted(os.listdir(folder)):
        sub = os.path.join(folder, entry)
        if os.path.isfile(os.path.join(sub, "bundle.json")):
            return sub
    raise RunnerError(f"no bundle.json in {folder}")


def prepare_bundle(weights) -> Optional[str]:
    """A local bundle folder from `weights` / BUNDLE_URL / BUNDLE_DIR, or None for the runner's toy world."""
    source = str(weights) if weights else os.environ.get("BUNDLE_URL") or os.environ.get("BUNDLE_DIR") or ""
    if not source:
        return None
    if os.path.isdir(source):
        return _bundle_root(source)
    target = os.environ.get("ACCDIFF_BUNDLE_CACHE") or os.path.join(tempfile.gettempdir(), "accdiff-bundle")
    if os.path.isfile(os.path.join(target, ".complete")):
        return _bundle_root(target)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    archive = source
    if urllib.parse.urlsplit(source).scheme in ("http", "https"):
        archive = os.path.join(target, ".download")
        print(f"bundle: downloading {urllib.parse.urlsplit(source).netloc}...", flush=True)
        with urllib.request.urlopen(source, timeout=60) as res, open(archive, "wb") as f:
            shutil.copyfileobj(res, f, 1 << 20)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python < 3.11.4: refuse what the data filter would
            for m in tar.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/") or m.issym() or m.islnk():
                    raise RunnerError(f"unsafe path in the bundle archive: {m.name}")
            tar.extractall(target)
    if archive != source:
        os.remove(archive)
    open(os.path.join(target, ".complete"), "w").close()
    return _bundle_root(target)


# ---- the predictor ------------------------------------------------------------------------------------------------


def _progress_line(e: dict) -> str:
    percent = int(max(0, min(100, e.get("percent", 0))))
    bar = "#" * (percent // 10)
    return f"{percent:3d}%|{bar:<10}| {e.get('step', 0)}/{e.get('steps', 1)} [phase {e.get('phase', 1)}]"


class Predictor(BasePredictor):
    def setup(self, weights: Optional[Path] = None) -> None:
        self.secret = secrets.token_hex(32)
        self.sink = _Sink(self.secret)
        self.work = tempfile.mkdtemp(prefix="accdiff-cog-")
        bundle = prepare_bundle(weights)
        cli = os.path.join(APP_DIR, "gpu-runner", "bin", "accdiff.mjs")
        args = [os.environ.get("NODE", "node"), cli, "serve", "--host", "127.0.0.1", "--port", "0"]
        if bundle:
            args += ["--bundle", bundle]
        args += ["--provider", os.environ.get("PROVIDER", "auto")]
        env = {**os.environ, "RUNNER_SECRET": self.secret, "STATE_DIR": os.path.join(self.work, "state")}
        env.pop("PORT", None)
        self.log_path = os.path.join(self.work, "runner.log")
        log = self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, cwd=APP_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.url = self._wait_listening(log)
        self._wait_ready()
        print(f"runner ready at {self.url} (bundle: {bundle or 'toy world'})", flush=True)

    def _wait_listening(self, log) -> str:
        """Reads the runner's JSON log until its "runner listening" line; the rest goes to runner.log."""
        found: "queue.Queue[str]" = queue.Queue()

        def pump():
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                if found.empty():
                    try:
                        entry = json.loads(raw)
                    except ValueError:
                        continue
                    if entry.get("msg") == "runner listening":
                        found.put(entry["url"])

        threading.Thread(target=pump, daemon=True).start()
        try:
            return found.get(timeout=120)
        except queue.Empty:
            raise RunnerError(f"the runner did not start listening: {self._log_tail()}") from None

    def _wait_ready(self) -> None:
        deadline = time.time() + READY_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RunnerError(f"the runner exited while loading ({self.proc.returncode}): {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as res:
                    if json.loads(res.read()).get("ready"):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RunnerError(f"the runner was not ready after {READY_TIMEOUT_S:.0f} s: {self._log_tail()}")

    def _log_tail(self, n: int = 3) -> str:
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf8", "replace").strip().splitlines()[-n:]
        except OSError:
            return "(no runner log)"
        out = []
        for line in lines:
            try:
                e = json.loads(line)
                out.append(f"{e.get('msg', line)} {e.get('reason') or e.get('error') or ''}".strip())
            except ValueError:
                out.append(line)
        return " | ".join(out) or "(no runner output)"

    def _call(self, method: str, path: str, body: Optional[dict] = None) -> tuple:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"content-type": "application/json", **sign_request(self.secret, method, path, data)}
        req = urllib.request.Request(self.url + path, data=data if method != "GET" else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, json.loads(res.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                detail = json.loads(err.read() or b"{}")
            except ValueError:
                detail = {}
            return err.code, detail

    def predict(
        self,
        job: str = Input(description="The RunnerJob (JSON) the accdiff worker dispatches: params, attempt, resume links"),
    ) -> Output:
        try:
            runner_job = json.loads(job)
        except ValueError:
            raise ValueError("job: not valid JSON") from None
        if not isinstance(runner_job, dict) or not isinstance(runner_job.get("jobId"), str):
            raise ValueError("job: not a RunnerJob (no jobId)")
        job_id, attempt = runner_job["jobId"], runner_job.get("attempt")
        if not isinstance(attempt, int):
            raise ValueError("job: not a RunnerJob (no attempt)")
        folder = tempfile.mkdtemp(prefix="job-", dir=self.work)
        j = self.sink.open(job_id, attempt, folder)
        base = f"{self.sink.url}/jobs/{job_id}/{attempt}"
        local = {**runner_job, "callbackUrl": f"{base}/events", "uploadUrl": f"{base}/artifacts"}
        try:
            status, answer = self._submit(local)
            if status not in (200, 202):
                raise ValueError(f"the runner refused the job (HTTP {status}): {answer.get('detail') or answer.get('title')}")
            return self._follow(j)
        except CancelationException:
            self._cancel(j)
            raise
        finally:
            self.sink.close(j)

    def _submit(self, job: dict) -> tuple:
        for delay in (0.5, 1, 2, 4, 8, 0):
            status, answer = self._call("POST", "/v1/jobs", job)
            if status not in (429, 503) or delay == 0:
                return status, answer
            time.sleep(delay)
        return status, answer

    def _follow(self, j: _Job) -> Output:
        artifacts = []
        last_event = time.time()
        while True:
            try:
                e = j.events.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RetryableRunnerError(f"the runner exited ({self.proc.returncode}): {self._log_tail()}") from None
                if time.time() - last_event > SILENCE_TIMEOUT_S:
                    raise RetryableRunnerError(f"the runner said nothing for {SILENCE_TIMEOUT_S:.0f} s") from None
                continue
            last_event = time.time()
            kind = e.get("type")
            if kind == "accepted" and e.get("queuePosition", 0) > 0:
                print(f"queued at position {e['queuePosition']}", flush=True)
            elif kind == "progress":
                print(_progress_line(e), flush=True)
            elif kind == "artifact":
                artifacts.append(e)
                if e.get("kind") in ("phase_image", "lowres_image", "final_image"):
                    print(f"{e['kind']} {e.get('width')}x{e.get('height')} (phase {e.get('phase', '-')})", flush=True)
            elif kind == "completed":
                return self._output(j, artifacts, e)
            elif kind == "failed":
                reason = f"the runner failed: {e.get('reason')}"
                raise RetryableRunnerError(reason) if e.get("retryable") else RunnerError(reason)
            elif kind == "cancelled":
                raise RunnerError("the runner cancelled the job")

    def _output(self, j: _Job, artifacts: list, completed: dict) -> Output:
        def file_of(a: dict) -> Path:
            path = j.uploads.get(a["key"])
            if not path:
                raise RunnerError(f"the runner announced {a['key']} but did not upload it")
            return Path(path)

        by_phase = {}
        final = None
        for a in artifacts:
            if a["kind"] == "lowres_image" and a.get("contentType") == "image/png":
                by_phase.setdefault(1, a)
            elif a["kind"] == "phase_image" and a.get("contentType") == "image/png":
                by_phase[a["phase"]] = a
            elif a["kind"] == "final_image":
                final = a
        if final is None:
            raise RunnerError("the runner completed without a final image")
        phases = sorted(k for k in by_phase if k in completed.get("phasesComputed", []))
        summary = {k: completed[k] for k in ("width", "height", "phasesComputed", "modelEvaluations", "timingsMs", "warnings") if k in completed}
        return Output(
            final_image=file_of(final),
            phase_images=[file_of(by_phase[k]) for k in phases],
            phases=phases,
            summary=json.dumps(summary),
        )

    def _cancel(self, j: _Job) -> None:
        """Tells the runner to stop and waits a little for it to confirm (the prediction is cancelled either way)."""
        self._call("POST", f"/v1/jobs/{j.job_id}/cancel")
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if j.events.get(timeout=0.5).get("type") in ("cancelled", "failed", "completed"):
                    return
            except queue.Empty:
                continue

    def shutdown(self) -> None:
        """Stops the runner (it drains: a job in flight is handed back as failed/retryable). Tests call this."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.stdout.close()
        self._log.close()
        self.sink.server.shutdown()
        self.sink.server.server_close()
        shutil.rmtree(self.work, ignore_errors=True)
