"""The table of attacks on the code sandbox, run here: kind, program, score, reason, what was left behind.

    PYTHONPATH=src:. python benchmarks/sandbox_attacks.py [--markdown]

Runs every program of ``tests/rewards/sandbox_attacks.py`` through the ``code`` verifier (bwrap backend),
with the same context as the tests (a secret data file, loopback listeners, a bystander process), then
checks the secret is not in the run's output, nothing reached the listeners, and no process of the run
or run directory is left.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.rewards.sandbox_attacks import ATTACKS, LEAK, SECRET
from tests.rewards.sandbox_helpers import run_dirs, sandbox_processes
from tests.rewards.test_sandbox_attacks import attack_context

from rlvr.rewards import VERIFIERS
from rlvr.rewards.sandbox import SandboxLimits, run_python
from rlvr.rewards.sandbox.launch import close_spares


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="attacks-"))
    ctx, listeners, bystander = attack_context(tmp)
    rows = []
    for attack in ATTACKS:
        before = run_dirs()
        program = attack.program.format(**ctx)
        gt = attack.ground_truth or LEAK
        res = VERIFIERS.get("code")(f"```python\n{program}\n```", gt, timeout_s=attack.timeout_s)
        fn = gt.get("fn_name")
        run = run_python(
            program, "[2, 3]" if fn else "", fn_name=fn, limits=SandboxLimits(timeout_s=attack.timeout_s)
        )
        close_spares()
        left = []
        if SECRET in run.stdout + run.stderr:
            left.append("SECRET LEAKED")
        if listeners.received:
            left.append(f"listener got {listeners.received}")
            listeners.received.clear()
        waited = 0
        while sandbox_processes() and waited < 40:  # as the tests: a SIGKILLed process may take a moment
            time.sleep(0.05)
            waited += 1
        procs = sandbox_processes()
        if procs:
            left.append(f"{len(procs)} process(es)")
        elif waited:
            left.append(f"nothing ({waited * 50} ms after the call)")
        if run_dirs() - before:
            left.append("run dir")
        if bystander.poll() is not None:
            left.append("bystander killed")
        rows.append(
            (attack.kind, attack.summary, res.score, res.info.get("reason", ""), ", ".join(left) or "nothing")
        )
    bystander.kill()
    listeners.close()
    if args.markdown:
        print("| kind | program | score | reason | left behind |\n|---|---|---|---|---|")
        for kind, summary, score, reason, left in rows:
            print(f"| {kind} | {summary} | {score:g} | {reason} | {left} |")
    else:
        for kind, _, score, reason, left in rows:
            print(f"{kind:28} score {score:g}  {reason:52.52}  left: {left}")
    print(
        f"{len(rows)} attacks; all score 0: {all(r[2] == 0 for r in rows)}; nothing left: {all(r[4].startswith('nothing') for r in rows)}"
    )


if __name__ == "__main__":
    main()
