"""Backend ``sandbox_fusion``: ByteDance SandboxFusion's ``POST /run_code`` (the API verl's code reward uses).

Request ``{"code", "language": "python", "stdin", "run_timeout", "memory_limit_MB"}``; response
``{"status": "Success" | "Failed" | "SandboxError", "message", "run_result": {"status": "Finished" |
"TimeLimitExceeded" | "Error", "return_code", "stdout", "stderr", "execution_time"}}``. Isolation and
limits are the server's; a function call (``fn_name``) runs through a harness appended to the code, whose
result line carries a per-run random tag.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

from rlvr.rewards.sandbox.types import SandboxLimits, SandboxResult, SandboxUnavailable

_HARNESS = """

def __rlvr_call():
    import json, sys
    payload = json.loads(sys.stdin.read() or "[]")
    fn = globals().get({fn!r})
    if fn is None and isinstance(globals().get("Solution"), type):
        fn = getattr(globals()["Solution"](), {fn!r}, None)
    if not callable(fn):
        print("\\n{tag}" + json.dumps({{"error_type": "MissingFunction"}}))
        sys.exit(1)
    value = fn(**payload) if isinstance(payload, dict) else fn(*payload)
    print("\\n{tag}" + json.dumps({{"value": value}}, default=repr), flush=True)

__rlvr_call()
"""


def _post(url: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    req = urllib.request.Request(
        url.rstrip("/") + "/run_code", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            out = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SandboxUnavailable(
            f"SandboxFusion server at {url} did not answer ({exc}); start one "
            "(docker run -p 8080:8080 volcengine/sandbox-fusion:server-20250609) or set reward.sandbox=bwrap"
        ) from exc
    if not isinstance(out, dict):
        raise SandboxUnavailable(f"SandboxFusion server at {url} answered {str(out)[:100]!r}, not an object")
    return out


def run_fusion(code: str, stdin: str, fn_name: str | None, limits: SandboxLimits, url: str) -> SandboxResult:
    if not url:
        raise SandboxUnavailable("reward.sandbox=sandbox_fusion needs reward.sandbox_url=http://HOST:PORT")
    tag = f"__rlvr_result_{secrets.token_hex(8)}__:"
    body = {
        "code": code + (_HARNESS.format(fn=fn_name, tag=tag) if fn_name else ""),
        "language": "python",
        "stdin": stdin,
        "run_timeout": limits.timeout_s,
        "memory_limit_MB": limits.memory_mb,
    }
    start = time.monotonic()
    out = _post(url, body, limits.timeout_s + 30)
    run = out.get("run_result") or {}
    cap = limits.max_output_bytes
    stdout, stderr = str(run.get("stdout") or ""), str(run.get("stderr") or "")
    res = SandboxResult(
        None, stdout[:cap], stderr[:cap], run.get("status") == "TimeLimitExceeded", 0.0, limits.timeout_s
    )
    res.duration_s, res.backend = time.monotonic() - start, "sandbox_fusion"
    res.output_exceeded = len(stdout) + len(stderr) > cap
    if out.get("status") == "SandboxError":
        res.sandbox_error = str(out.get("message") or "SandboxError")[:300]
    elif not res.timed_out:
        rc = run.get("return_code")
        res.returncode = rc if isinstance(rc, int) else None
        if res.returncode is None and not res.sandbox_error:
            res.sandbox_error = f"no return code in {str(out)[:200]}"
    if fn_name:
        for line in reversed(stdout.splitlines()):
            if line.startswith(tag):
                msg = json.loads(line[len(tag) :])
                res.has_value, res.value = "value" in msg, msg.get("value")
                res.error_type = msg.get("error_type")
                break
    return res
