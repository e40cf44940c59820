"""stage.sh assembles a Cog build context in which cog.yaml's predictor and everything predict.py starts exist."""

import os
import re
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


class Stage(unittest.TestCase):
    def test_context_holds_the_predictor_and_the_runner(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "cog")
            subprocess.run([os.path.join(ROOT, "gpu-runner", "cog", "stage.sh"), out, "--no-install"], check=True, capture_output=True)
            with open(os.path.join(out, "cog.yaml")) as f:
                config = f.read()
            predictor = re.search(r'^predict: "([^:]+):(\w+)"$', config, re.M)
            self.assertIsNotNone(predictor)
            with open(os.path.join(out, predictor.group(1))) as f:
                self.assertIn(f"class {predictor.group(2)}(BasePredictor)", f.read())
            for path in ("gpu-runner/cog/bundle_source.py", "gpu-runner/cog/runner_protocol.py", "gpu-runner/bin/accdiff.mjs", "gpu-runner/src/cli/main.ts", "shared/src/index.ts", "package-lock.json", ".npmrc"):
                self.assertTrue(os.path.exists(os.path.join(out, path)), path)
            self.assertFalse(any(name.endswith(".test.ts") for _, _, files in os.walk(out) for name in files))
            self.assertFalse(os.path.exists(os.path.join(out, "worker", "src")))
            self.assertNotEqual(subprocess.run([os.path.join(ROOT, "gpu-runner", "cog", "stage.sh"), ROOT, "--no-install"], capture_output=True).returncode, 0)


if __name__ == "__main__":
    unittest.main()
