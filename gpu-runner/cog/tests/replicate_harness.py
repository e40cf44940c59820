"""
Runs predict.py the way a Cog container on Replicate does, for the end-to-end test's fake Replicate
(tests/replicate/fakeReplicate.ts): setup() once, then one prediction at a time, what predict() prints captured as
the prediction's logs, a cancel raised inside predict() as CancelationException from a SIGUSR1 handler (how Cog's
runtime interrupts sync predictors), the output's files handed over by path. It uses the stand-in `cog` module:
Cog itself cannot be installed here.

Protocol, one JSON object per line. In (stdin): {"op": "predict", "id", "input"}, {"op": "cancel", "id"}.
Out (stdout): {"event": "ready"} | {"event": "log", "id", "line"} | {"event": "done", "id", "status":
"succeeded" | "failed" | "canceled", "output"?, "error"?}. EOF on stdin shuts the predictor down.
"""

import json
import os
import queue
import signal
import sys
import threading
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "standin"), os.path.dirname(HERE)]

from cog import BaseModel, CancelationException, run_prediction  # noqa: E402

OUT = os.fdopen(os.dup(1), "w", buffering=1)
LOCK = threading.Lock()
current = {"id": None}


def emit(obj: dict) -> None:
    with LOCK:
        OUT.write(json.dumps(obj) + "\n")
        OUT.flush()


class Logs:
    """sys.stdout/stderr during the container's life: every line is a log line of the prediction running now."""

    def __init__(self):
        self.buf = ""

    def write(self, s: str) -> int:
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            emit({"event": "log", "id": current["id"], "line": line})
        return len(s)

    def flush(self):
        pass


def serialise(value):
    if isinstance(value, BaseModel):
        return {k: serialise(v) for k, v in value.dict().items()}
    if isinstance(value, (list, tuple)):
        return [serialise(v) for v in value]
    if isinstance(value, os.PathLike):
        return {"file": os.fspath(value)}
    return value


def main() -> None:
    sys.stdout = sys.stderr = Logs()
    import predict

    predictor = predict.Predictor()
    predictor.setup()
    emit({"event": "ready"})
    work: "queue.Queue[dict]" = queue.Queue()

    def on_cancel(_sig, _frame):
        if current["id"] is not None:
            raise CancelationException()

    signal.signal(signal.SIGUSR1, on_cancel)

    def read():
        for raw in sys.stdin:
            msg = json.loads(raw)
            if msg["op"] == "predict":
                work.put(msg)
            elif msg["op"] == "cancel" and msg["id"] == current["id"]:
                os.kill(os.getpid(), signal.SIGUSR1)
        work.put({"op": "exit"})

    threading.Thread(target=read, daemon=True).start()
    while True:
        msg = work.get()
        if msg["op"] == "exit":
            break
        current["id"] = msg["id"]
        done = {"event": "done", "id": msg["id"]}
        try:
            output = run_prediction(predictor, msg["input"])
            current["id"] = None
            done.update(status="succeeded", output=serialise(output))
        except CancelationException:
            done.update(status="canceled")
        except Exception as e:  # the prediction fails, the container goes on
            traceback.print_exc()
            done.update(status="failed", error=str(e))
        current["id"] = None
        emit(done)
    predictor.shutdown()


if __name__ == "__main__":
    main()
