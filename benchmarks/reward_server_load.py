"""Load test of the reward server on loopback: many concurrent clients, every response accounted for.

    python benchmarks/reward_server_load.py                       # 1,200 requests, 32 clients, 2 workers
    python benchmarks/reward_server_load.py --requests 5000 --clients 64 --workers 4

What it does, in order:

1. Starts ``python -m rlvr.rewards.server --host 127.0.0.1 --workers N`` as a subprocess on a free
   loopback port and waits for ``GET /health``. Traffic never leaves 127.0.0.1.
2. Builds a fixed plan of ``--requests`` single-completion ``POST /score`` requests with a mix of
   verifiers (about 60% ``exact_match``, 37% ``math``, 3% ``code``), half of them right answers, so each
   response can be checked against the expected ``correct`` as well as counted.
3. Runs ``--clients`` threads, each with its own ``httpx.Client``, that take requests from the plan
   until it is empty or ``--deadline-s`` has passed (then the rest is not sent, and reported).
4. Prints requests sent / answered / HTTP errors / verifier errors / wrong answers, latency
   p50/p90/p99/max (client-side, one HTTP round trip), throughput, and the server's own ``/metrics``;
   writes them as JSON to ``--output``. Exits 1 unless every sent request was answered (sent ==
   answered) with the expected result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from rlvr.data.sample import RewardSpec
from rlvr.rewards.router import ScoreRequest
from rlvr.rewards.wire import request_to_json

HOST = "127.0.0.1"  # loopback only
ADD = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5", "output": "10"}]}


def plan(n: int) -> list[tuple[dict[str, Any], bool]]:
    """``n`` (request body, expected ``correct``) pairs: a fixed mix of verifiers, half right."""
    out = []
    for i in range(n):
        right, a, b = i % 2 == 0, i % 97, (i * 7) % 89
        if i % 33 == 5:  # ~3% code: run in the sandbox, the slow kind
            program = "a, b = map(int, input().split())\nprint(a + b)" if right else "print(3)"
            item = ScoreRequest(f"```python\n{program}\n```", RewardSpec("code", ADD), f"code:{i}")
        elif i % 8 < 3:  # ~37% math
            answer = f"{a + b}" if right else f"{a + b + 1}"
            item = ScoreRequest(rf"{a} + {b} = \boxed{{{answer}}}", RewardSpec("math", f"{a + b}"), f"m:{i}")
        else:  # the rest exact_match
            text = f"answer {a}" if right else f"answer {b + 100}"
            item = ScoreRequest(text, RewardSpec("exact_match", f"answer {a}"), f"e:{i}")
        item.data_source = item.spec.verifier
        out.append(({"requests": [request_to_json(item)]}, right))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, timeout_s: float, sandbox: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "rlvr.rewards.server", "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers), "--timeout-s", str(timeout_s), "--log-level", "warning"]
    cmd += ["--sandbox", sandbox]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the reward server did not start (exit code {proc.poll()})")
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Tally:
    """What the clients saw, under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = self.answered = self.http_errors = self.verifier_errors = self.wrong = 0
        self.latencies: list[float] = []
        self.failures: list[str] = []


def client_loop(url: str, work: list[tuple[dict[str, Any], bool]], next_i: list[int], deadline: float,
                tally: Tally, timeout_s: float) -> None:  # fmt: skip
    with httpx.Client(timeout=timeout_s) as client:
        while True:
            with tally.lock:
                if next_i[0] >= len(work) or time.monotonic() > deadline:
                    return
                body, right = work[next_i[0]]
                next_i[0] += 1
                tally.sent += 1
            start = time.perf_counter()
            try:
                resp = client.post(url + "/score", json=body)
                results = resp.json()["results"] if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                resp, results, why = None, None, f"{type(exc).__name__}: {exc}"
            latency = time.perf_counter() - start
            with tally.lock:
                if results is None or len(results) != 1:
                    tally.http_errors += 1
                    status = resp.status_code if resp is not None else why
                    tally.failures.append(f"request {body['requests'][0]['sample_key']}: {status}")
                    continue
                tally.answered += 1
                tally.latencies.append(latency)
                res = results[0]
                if res["error"] is not None:
                    tally.verifier_errors += 1
                    tally.failures.append(f"{body['requests'][0]['sample_key']}: {res['error']}")
                elif res["correct"] is not right:
                    tally.wrong += 1
                    tally.failures.append(f"{body['requests'][0]['sample_key']}: correct={res['correct']}")


def percentile(sorted_xs: list[float], q: float) -> float:
    return sorted_xs[min(len(sorted_xs) - 1, max(0, round(q * len(sorted_xs)) - 1))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=1200)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout-s", type=float, default=30.0, help="the server's per-call verifier timeout")
    p.add_argument("--deadline-s", type=float, default=300.0, help="stop sending after this long")
    p.add_argument(
        "--sandbox", default="bwrap", choices=["bwrap", "none"], help="where code runs (server side)"
    )
    p.add_argument("--output", default="benchmarks/results/reward_server_load.json")
    args = p.parse_args(argv)

    work, port = plan(args.requests), free_port()
    url = f"http://{HOST}:{port}"
    proc = start_server(port, args.workers, args.timeout_s, args.sandbox)
    tally, next_i = Tally(), [0]
    try:
        start = time.monotonic()
        deadline = start + args.deadline_s
        threads = [
            threading.Thread(target=client_loop, args=(url, work, next_i, deadline, tally, 120.0))
            for _ in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - start
        server_metrics = httpx.get(url + "/metrics", timeout=10).json()
    finally:
        stop_server(proc)

    lat = sorted(tally.latencies)
    per_verifier = {
        name: {k: v for k, v in s.items() if k in ("requests", "errors", "timeouts", "latency_p50_s",
                                                    "latency_p99_s", "verify_mean_s")}
        for name, s in server_metrics["verifiers"].items()
    }  # fmt: skip
    report = {
        "requests_planned": args.requests,
        "requests_sent": tally.sent,
        "requests_answered": tally.answered,
        "http_errors": tally.http_errors,
        "verifier_errors": tally.verifier_errors,
        "wrong_results": tally.wrong,
        "not_sent_deadline": args.requests - tally.sent,
        "clients": args.clients,
        "server_workers": args.workers,
        "sandbox": args.sandbox,
        "wall_s": wall,
        "throughput_req_per_s": tally.answered / wall if wall > 0 else 0.0,
        "latency_s": {
            "p50": percentile(lat, 0.50) if lat else None,
            "p90": percentile(lat, 0.90) if lat else None,
            "p99": percentile(lat, 0.99) if lat else None,
            "max": lat[-1] if lat else None,
            "mean": sum(lat) / len(lat) if lat else None,
        },
        "server_per_verifier": per_verifier,
        "server_worker_restarts": server_metrics["worker_restarts"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "failures_first_10": tally.failures[:10],
    }
    ms = {k: (f"{v * 1000:.1f} ms" if v is not None else "-") for k, v in report["latency_s"].items()}
    print(f"reward server load test on {url} ({args.workers} workers, {args.clients} clients)")
    print(f"  requests sent / answered : {tally.sent} / {tally.answered}  (planned {args.requests})")
    print(f"  http errors              : {tally.http_errors}")
    print(f"  verifier errors          : {tally.verifier_errors}")
    print(f"  wrong results            : {tally.wrong}")
    print(f"  latency p50 / p90 / p99  : {ms['p50']} / {ms['p90']} / {ms['p99']}  (max {ms['max']})")
    print(f"  throughput               : {report['throughput_req_per_s']:.1f} req/s over {wall:.1f} s")
    for name, s in per_verifier.items():
        print(f"  server {name:<12}: {s['requests']} requests, {s['errors']} errors, "
              f"p50 {s.get('latency_p50_s', 0) * 1000:.1f} ms, verify mean {s.get('verify_mean_s', 0) * 1000:.1f} ms")  # fmt: skip
    for line in tally.failures[:10]:
        print(f"  failure: {line}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  written to {out}")
    ok = tally.sent == tally.answered and not tally.verifier_errors and not tally.wrong
    assert tally.sent == tally.answered, f"sent {tally.sent} != answered {tally.answered}"
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
