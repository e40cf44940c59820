"""
gpu-runner/cog/predict.py against a real `accdiff serve` (CPU, the toy world, which the runner builds when missing),
with the stand-in `cog` module of tests/standin (Cog itself cannot be installed here). Checked: a RunnerJob renders
to the final image and one image per phase at their true sizes, progress is printed in the tqdm form Replicate's
progress parser reads, a malformed job is refused with a readable error, and a cancel (Cog's CancelationException,
raised by SIGUSR1 as Cog's runtime does for sync predictors) stops the job at the runner, and a runner that dies
mid-job fails the prediction as retryable (the worker dispatches the job again).
"""

import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path[:0] = [os.path.join(HERE, "standin"), os.path.dirname(HERE)]

import predict  # noqa: E402
from cog import CancelationException, run_prediction  # noqa: E402

# Replicate's parseProgressFromLogs (replicate npm, lib/util.js), which the worker applies to the `logs` webhooks.
REPLICATE_PROGRESS = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*(\d+)\/(\d+)")
PROMPT = "a cat and a dog are playing on the lawn"


def resolved(request: dict) -> dict:
    """The worker's resolveRequest (shared/src/request.ts) applied to `request`: exactly what a RunnerJob carries."""
    code = (
        'import { DEFAULT_LIMITS, resolveRequest } from "./shared/src/request.ts";'
        f"console.log(JSON.stringify(resolveRequest({json.dumps(request)}, {{ ...DEFAULT_LIMITS, baseResolution: 512 }})));"
    )
    out = subprocess.run([os.path.join(ROOT, "node_modules", ".bin", "tsx"), "--eval", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def runner_job(job_id: str, request: dict) -> str:
    return json.dumps({
        "jobId": job_id,
        "attempt": 1,
        "bundleId": "toy-world",
        "params": resolved(request),
        # The worker's URLs: predict.py must point the runner at itself instead.
        "callbackUrl": f"https://worker.invalid/internal/jobs/{job_id}/events",
        "uploadUrl": f"https://worker.invalid/internal/jobs/{job_id}/attempts/1/artifacts",
        "cacheKeys": {"phase1": "a" * 64, "phases": {"2": "b" * 64}},
    })


def png_size(path) -> tuple:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


class PredictorAgainstRunner(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for k in ("BUNDLE_DIR", "BUNDLE_URL"):
            os.environ.pop(k, None)
        os.environ["PROVIDER"] = "cpu"
        cls.predictor = predict.Predictor()
        cls.predictor.setup()

    @classmethod
    def tearDownClass(cls):
        cls.predictor.shutdown()

    def test_a_renders_a_runner_job_to_files_and_progress_logs(self):
        logs = io.StringIO()
        with redirect_stdout(logs):
            out = run_prediction(self.predictor, {"job": runner_job("cogtest-render-1", {"prompt": PROMPT, "width": 1024, "height": 1024, "steps": 2, "seed": 3})})
        self.assertEqual(png_size(out.final_image), (1024, 1024))
        self.assertEqual(out.phases, [1, 2])
        self.assertEqual([png_size(p) for p in out.phase_images], [(512, 512), (1024, 1024)])
        summary = json.loads(out.summary)
        self.assertEqual(summary["phasesComputed"], [1, 2])
        self.assertEqual(sorted(summary["modelEvaluations"]), ["1", "2"])
        self.assertEqual((summary["width"], summary["height"]), (1024, 1024))
        lines = [line for line in logs.getvalue().splitlines() if REPLICATE_PROGRESS.match(line)]
        self.assertTrue(any("[phase 1]" in line for line in lines), logs.getvalue())
        self.assertTrue(any("[phase 2]" in line for line in lines), logs.getvalue())
        for line in lines:
            pct, step, steps = map(int, REPLICATE_PROGRESS.match(line).groups())
            self.assertTrue(0 <= pct <= 100 and 0 <= step <= steps, line)

    def test_b_refuses_malformed_jobs_readably(self):
        with self.assertRaisesRegex(ValueError, "not valid JSON"):
            run_prediction(self.predictor, {"job": "{nope"})
        bad = json.loads(runner_job("cogtest-bad-1", {"prompt": PROMPT, "width": 512, "height": 512, "steps": 2}))
        bad["params"]["steps"] = "many"
        with self.assertRaisesRegex(ValueError, r"runner refused the job \(HTTP 422\).*steps"):
            run_prediction(self.predictor, {"job": json.dumps(bad)})
        with self.assertRaisesRegex(ValueError, "job: required"):
            run_prediction(self.predictor, {})

    def test_c_cancel_stops_the_job_at_the_runner(self):
        job_id = "cogtest-cancel-1"

        def cancel(_sig, _frame):
            raise CancelationException()

        class CancelOnFirstProgress(io.StringIO):
            def write(self, s):
                if "%|" in s:
                    os.kill(os.getpid(), signal.SIGUSR1)
                return super().write(s)

        previous = signal.signal(signal.SIGUSR1, cancel)
        try:
            with redirect_stdout(CancelOnFirstProgress()), self.assertRaises(CancelationException):
                run_prediction(self.predictor, {"job": runner_job(job_id, {"prompt": PROMPT, "width": 2048, "height": 2048, "steps": 4, "seed": 5})})
        finally:
            signal.signal(signal.SIGUSR1, previous)
        status, record = self.predictor._call("GET", f"/v1/jobs/{job_id}/attempts/1")
        self.assertEqual(status, 200)
        self.assertEqual(record["status"], "cancelled")
        # The runner takes the next prediction as before.
        out = run_prediction(self.predictor, {"job": runner_job("cogtest-after-cancel", {"prompt": PROMPT, "width": 512, "height": 512, "steps": 2, "seed": 5})})
        self.assertEqual(png_size(out.final_image), (512, 512))

    def test_d_a_dead_runner_fails_the_prediction_as_retryable(self):
        # Last: the runner is killed mid-job (the predictor is not usable afterwards).
        class KillOnFirstProgress(io.StringIO):
            def write(inner, s):
                if "%|" in s and self.predictor.proc.poll() is None:
                    self.predictor.proc.kill()
                return super().write(s)

        job = runner_job("cogtest-killed", {"prompt": PROMPT, "width": 1024, "height": 1024, "steps": 4, "seed": 6})
        with redirect_stdout(KillOnFirstProgress()), self.assertRaisesRegex(predict.RunnerError, r"^retryable: the runner exited"):
            run_prediction(self.predictor, {"job": job})


if __name__ == "__main__":
    unittest.main()
