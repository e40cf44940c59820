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

import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import List, Optional

from cog import BaseModel, BasePredictor, CancelationException, Input, Path

# Cog loads this file by path: its siblings are importable once its folder is on the path.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundle_source import prepare_bundle  # noqa: E402
from runner_protocol import Sink, SinkJob, sign_request  # noqa: E402

# The repository (the Cog image's /src): gpu-runner/cog/predict.py -> ../..
APP_DIR = os.environ.get("ACCDIFF_APP_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_TIMEOUT_S = float(os.environ.get("ACCDIFF_READY_TIMEOUT_S", "900"))
# A job whose runner says nothing for this long is given up on (the runner repeats itself every minute at least).
SILENCE_TIMEOUT_S = float(os.environ.get("ACCDIFF_SILENCE_TIMEOUT_S", "300"))


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


# ---- the predictor ------------------------------------------------------------------------------------------------


def _progress_line(e: dict) -> str:
    percent = int(max(0, min(100, e.get("percent", 0))))
    bar = "#" * (percent // 10)
    return f"{percent:3d}%|{bar:<10}| {e.get('step', 0)}/{e.get('steps', 1)} [phase {e.get('phase', 1)}]"


class Predictor(BasePredictor):
    def setup(self, weights: Optional[Path] = None) -> None:
        self.secret = secrets.token_hex(32)
        self.sink = Sink(self.secret)
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

    def _follow(self, j: SinkJob) -> Output:
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

    def _output(self, j: SinkJob, artifacts: list, completed: dict) -> Output:
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

    def _cancel(self, j: SinkJob) -> None:
        """Tells the runner to stop and waits a little for it to confirm (the prediction is cancelled either way)."""
        # The runner's attempt-scoped cancel (shared/src/runnerApi.ts): it stops this attempt and no other.
        self._call("POST", f"/v1/jobs/{urllib.parse.quote(j.job_id, safe='')}/attempts/{j.attempt}/cancel")
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
