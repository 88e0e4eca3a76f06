"""Per-sample reward routing: each request names its verifier in its ``RewardSpec``.

``RewardRouter.score`` runs verifiers in-process (``max_workers=0``) or in a spawn-started process pool
with a per-call timeout. A verifier that raises, or runs past the timeout, yields a result with
``error`` set and score 0.0: an errored sample, never a silent wrong answer.
"""

from __future__ import annotations

import functools
import inspect
import multiprocessing
import signal
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from rlvr.data.sample import RewardSpec
from rlvr.rewards.types import VERIFIERS, RewardResult, as_result

ROUTER_KWARGS = ("completion_tokens", "sample_key")  # passed to verifiers whose signature accepts them


@dataclass
class ScoreRequest:
    """One completion to score: its text, the sample's reward spec, and what the router passes along."""

    completion: str
    spec: RewardSpec
    sample_key: str = ""  # sample id + completion index; seeds per-sample randomness (``random``)
    completion_tokens: int = 0  # completion length in tokens (``length``)
    data_source: str = "default"  # metrics are grouped by it


class Scorer(Protocol):
    """Anything that scores a batch of requests, one result per request in order: a ``RewardRouter``, the
    reward server's ``RemoteRewardRouter``, or the trainer's reward role."""

    def score(self, requests: Sequence[ScoreRequest], /) -> list[RewardResult]: ...


class VerifierError(Exception):
    """An error whose message is already in the router's ``"name: Type: message"`` form."""


@functools.cache
def _accepted(fn: Callable[..., Any]) -> frozenset[str]:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return frozenset(ROUTER_KWARGS)
    return frozenset(p.name for p in params if p.name in ROUTER_KWARGS)


def call_verifier(
    name: str,
    completion: str,
    ground_truth: Any,
    params: dict[str, Any],
    completion_tokens: int,
    sample_key: str,
) -> RewardResult:
    """Look ``name`` up (registered name or ``module:attr``) and call it; exceptions propagate. A verifier
    may return a plain number (a reward function's convention) instead of a ``RewardResult``."""
    fn = VERIFIERS.get(name)
    kwargs = dict(params or {})
    extra = {"completion_tokens": completion_tokens, "sample_key": sample_key}
    kwargs.update({k: v for k, v in extra.items() if k in _accepted(fn)})
    return as_result(fn(completion, ground_truth, **kwargs))


@VERIFIERS.register("combined")
def combined(
    completion: str,
    ground_truth: Any,
    *,
    components: Sequence[dict[str, Any]],
    completion_tokens: int = 0,
    sample_key: str = "",
) -> RewardResult:
    """Score = sum_i weight_i * score_i over ``components``, e.g. V-Triune's accuracy_ratio * R_acc +
    format_ratio * R_format, or an accuracy reward plus DAPO's ``length`` penalty.

    Each component is ``{"verifier": name, "weight": w (default 1), "params": {...} (optional),
    "ground_truth": ... (optional; default: the sample's)}``. ``correct`` is that of the first component
    whose ``correct`` is not None (a weight-0 component still counts, so it can supply accuracy). A
    component's exception or error makes the whole result an error. ``info["components"]`` lists the
    parts; ``info["metrics"]`` merges the components' metrics.
    """
    total, correct, parts, metrics = 0.0, None, [], {}
    for comp in components:
        unknown = set(comp) - {"verifier", "weight", "params", "ground_truth"}
        if unknown or "verifier" not in comp:
            raise ValueError(f"component {comp!r}: needs 'verifier'; unknown keys {sorted(unknown)}")
        name, weight = comp["verifier"], float(comp.get("weight", 1.0))
        gt = comp.get("ground_truth", ground_truth)
        try:
            res = call_verifier(name, completion, gt, comp.get("params", {}), completion_tokens, sample_key)
        except VerifierError as exc:
            raise VerifierError(f"combined/{exc}") from exc
        except Exception as exc:
            raise VerifierError(f"combined/{name}: {type(exc).__name__}: {exc}") from exc
        if res.error:
            raise VerifierError(f"combined/{name}: {res.error}")
        total += weight * res.score
        correct = res.correct if correct is None else correct
        parts.append(
            {"verifier": name, "weight": weight, "score": res.score, "correct": res.correct, "info": res.info}
        )
        metrics.update({k: v for k, v in res.info.get("metrics", {}).items() if k not in metrics})
    info: dict[str, Any] = {"components": parts, "metrics": metrics}
    # The answer the components read (majority votes and pseudo-labels need it): the first one extracted.
    extracted = next((p["info"]["extracted"] for p in parts if p["info"].get("extracted") is not None), None)
    if extracted is not None:
        info["extracted"] = extracted
    return RewardResult(total, correct=correct, info=info)


def score_one(item: ScoreRequest) -> RewardResult:
    """Score one request in this process. Never raises: a failure is returned in ``error``.

    The result's score is the verifier's score times ``spec.weight`` (the verifier's own value is in
    ``info["unweighted_score"]``); ``info["latency_s"]`` is the wall time of the call.
    """
    spec, start = item.spec, time.perf_counter()
    try:
        res = call_verifier(
            spec.verifier,
            item.completion,
            spec.ground_truth,
            spec.params,
            item.completion_tokens,
            item.sample_key,
        )
        info = {**res.info, "unweighted_score": res.score}
        result = RewardResult(res.score * spec.weight, res.correct, info, res.error)
    except VerifierError as exc:
        result = RewardResult(0.0, None, {}, str(exc))
    except Exception as exc:
        result = RewardResult(0.0, None, {}, f"{spec.verifier}: {type(exc).__name__}: {exc}")
    if result.error:
        result.score = 0.0
    result.info["latency_s"] = time.perf_counter() - start
    return result


def _warm_up() -> None:
    import rlvr.rewards  # noqa: F401  (registers every verifier in the worker)


def ignore_sigint() -> None:
    """Workers leave Ctrl-C to the trainer, which stops cleanly with a checkpoint."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class RewardRouter:
    """Scores batches of ``ScoreRequest``: in-process (``max_workers=0``) or in a process pool.

    In-process, exceptions are caught but a call is not interrupted (``math`` bounds itself with
    math-verify's signal timeout in the main thread; ``code`` with its sandbox timeouts). With
    ``max_workers > 0`` a spawn-started ``ProcessPoolExecutor`` runs the calls; a call that runs longer
    than ``timeout_s`` is reported as ``error="timeout after X s"`` (``info["timeout"] = True``) and the
    pool is killed and recreated (calls that were running beside it are rerun). A worker that dies
    breaks the pool: the calls in flight are rerun one at a time, so only the culprit gets an error.
    Verifiers named ``module:attr`` must be importable in the workers.
    """

    def __init__(self, max_workers: int = 0, timeout_s: float = 30.0) -> None:
        if max_workers < 0 or timeout_s <= 0:
            raise ValueError(f"need max_workers >= 0 and timeout_s > 0, got {max_workers}, {timeout_s}")
        self.max_workers, self.timeout_s = max_workers, timeout_s
        self._pool: ProcessPoolExecutor | None = None

    def score(self, items: Sequence[ScoreRequest]) -> list[RewardResult]:
        if self.max_workers == 0:
            return [score_one(item) for item in items]
        return self._score_in_pool(list(items))

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.max_workers, mp_context=ctx, initializer=ignore_sigint)
            warm = [self._pool.submit(_warm_up) for _ in range(self.max_workers)]
            wait(warm, timeout=120)
            failed = [f for f in warm if not f.done() or f.exception() is not None]
            if failed:
                self.close()
                reason = "did not start in 120 s" if not failed[0].done() else repr(failed[0].exception())
                raise RuntimeError(f"reward worker pool failed to start: {reason}")
        return self._pool

    def close(self) -> None:
        """Kill the workers (a hung verifier cannot be asked to stop) and drop the pool."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())  # no public API to kill workers
        for p in procs:
            p.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.join(timeout=5)

    def __enter__(self) -> RewardRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timeout_result(self) -> RewardResult:
        info = {"timeout": True, "latency_s": self.timeout_s}
        return RewardResult(0.0, None, info, f"timeout after {self.timeout_s:g} s")

    def _score_in_pool(self, items: list[ScoreRequest]) -> list[RewardResult]:
        results: list[RewardResult | None] = [None] * len(items)
        queue, suspects = deque(range(len(items))), set()
        running: dict[Future, tuple[int, float]] = {}
        while queue or running:
            pool = self._ensure_pool()
            broken = False
            while queue and len(running) < self.max_workers and not (queue[0] in suspects and running):
                i = queue.popleft()
                try:
                    running[pool.submit(score_one, items[i])] = (i, time.monotonic())
                except BrokenProcessPool:  # a worker died while idle
                    queue.appendleft(i)
                    broken = True
                    break
                if i in suspects:
                    break  # a suspect runs alone, so a crash can be pinned on it
            if broken and not running:
                self.close()
                continue
            next_deadline = min(start for _, start in running.values()) + self.timeout_s
            done, _ = wait(
                running, timeout=max(0.0, next_deadline - time.monotonic()), return_when=FIRST_COMPLETED
            )
            in_flight = len(running)
            for fut in done:
                i, _ = running.pop(fut)
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    broken = True
                    if i in suspects or in_flight == 1:
                        results[i] = RewardResult(
                            0.0, None, {}, f"{items[i].spec.verifier}: worker process died"
                        )
                    else:
                        suspects.add(i)
                        queue.appendleft(i)
                except Exception as exc:  # e.g. an unpicklable result
                    results[i] = RewardResult(
                        0.0, None, {}, f"{items[i].spec.verifier}: {type(exc).__name__}: {exc}"
                    )
            now = time.monotonic()
            expired = [f for f, (_, start) in running.items() if now - start >= self.timeout_s]
            for fut in expired:
                results[running.pop(fut)[0]] = self._timeout_result()
            if expired or broken:
                for i, _ in running.values():  # killed alongside; run them again
                    queue.appendleft(i)
                    if broken:
                        suspects.add(i)
                running.clear()
                self.close()
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]


def aggregate_metrics(requests: Sequence[ScoreRequest], results: Sequence[RewardResult]) -> dict[str, float]:
    """Batch metrics per ``data_source/<name>/``, per ``verifier/<name>/`` and over ``all/``.

    ``count``; ``reward_mean`` (weighted scores of results without error); ``accuracy`` (over results
    whose ``correct`` is not None; absent if none); ``error_count`` (timeouts included);
    ``timeout_count``; ``latency_mean_s``; and the mean of each ``info["metrics"]`` entry (e.g.
    ``iou@0.5``, ``map``) over the results that report it.
    """
    groups: dict[str, list[RewardResult]] = defaultdict(list)
    for req, res in zip(requests, results, strict=True):
        for key in (f"data_source/{req.data_source}", f"verifier/{req.spec.verifier}", "all"):
            groups[key].append(res)
    out: dict[str, float] = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r.error is None]
        judged = [r.correct for r in ok if r.correct is not None]
        latencies = [r.info["latency_s"] for r in rs if "latency_s" in r.info]
        out[f"{key}/count"] = float(len(rs))
        out[f"{key}/error_count"] = float(len(rs) - len(ok))
        out[f"{key}/timeout_count"] = float(sum(bool(r.info.get("timeout")) for r in rs))
        if ok:
            out[f"{key}/reward_mean"] = sum(r.score for r in ok) / len(ok)
        if judged:
            out[f"{key}/accuracy"] = sum(judged) / len(judged)
        if latencies:
            out[f"{key}/latency_mean_s"] = sum(latencies) / len(latencies)
        values: dict[str, list[float]] = defaultdict(list)
        for r in ok:
            for name, v in r.info.get("metrics", {}).items():
                values[name].append(float(v))
        out.update({f"{key}/{name}": sum(v) / len(v) for name, v in values.items()})
    return out
