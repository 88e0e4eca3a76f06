"""The episode runner: multi-turn rollouts over any rollout engine, token in, token out.

Every turn, the live trajectories are generated in one engine call per set of stop strings (each
environment adds its own), the actions are stepped in the environments concurrently
(:class:`rlvr.envs.EnvExecutor`), and each observation is appended as token ids
(:class:`rlvr.rollout.tito.TurnRenderer`). A trajectory ends when its environment says ``done``, at
``max_turns``, at the context budget, or on an environment error; ``stop_reason`` says which.

A trajectory is one training row, or several where the chat template rewrites history (a new row per
rewrite, counted). A row holds the ids the engine was conditioned on and sampled, the generated-token
mask (observation tokens are never trained), the behaviour log-probs of generated tokens (0 elsewhere),
and where each turn ended with that turn's reward. The engine is anything with
``generate(prompts: list[list[int]], params) -> list[Completion]`` (the hf and vLLM engines, a pool).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from rlvr.data.sample import Sample
from rlvr.envs import CallOutcome, Env, EnvExecutor, StepResult, build_env
from rlvr.rollout.tito import Continuation, TurnRenderer
from rlvr.rollout.types import Completion, SamplingParams
from rlvr.training.multiturn_config import MultiTurnConfig

log = logging.getLogger(__name__)

Generate = Callable[[list[list[int]], SamplingParams], list[Completion]]

STOP_REASONS = ("done", "max_turns", "max_total_tokens", "env_error")


@dataclass
class EpisodeRow:
    """One training row of a trajectory: ``prompt_ids`` then the response region ``token_ids``, in which
    ``loss_mask`` marks generated tokens (1) and observation tokens (0)."""

    prompt_ids: list[int]
    token_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turn_ends: list[int] = field(
        default_factory=list
    )  # index in token_ids of each turn's last generated token
    turn_rewards: list[float] = field(default_factory=list)

    def total_len(self) -> int:
        return len(self.prompt_ids) + len(self.token_ids)

    def add(self, ids: list[int], logprobs: list[float] | None = None) -> None:
        """Append generated ids (with their log-probs) or observation ids (``logprobs`` None)."""
        self.token_ids += ids
        self.loss_mask += [0 if logprobs is None else 1] * len(ids)
        self.logprobs += [0.0] * len(ids) if logprobs is None else list(logprobs)

    def completion(self, prompt_index: int, sample_index: int, finish_reason: str, text: str) -> Completion:
        """The row as a Completion (``loss_mask`` set), which ``training.batch.collate`` stacks."""
        return Completion(
            prompt_index=prompt_index,
            token_ids=list(self.token_ids),
            logprobs=list(self.logprobs),
            text=text,
            finish_reason=finish_reason,
            prompt_ids=list(self.prompt_ids),
            sample_index=sample_index,
            loss_mask=list(self.loss_mask),
        )


@dataclass
class Trajectory:
    """One episode of one sample: its rows, rewards, how it ended and what it looked like."""

    prompt_index: int  # which sample of the batch
    sample_index: int  # which of that sample's n episodes
    env_name: str
    data_source: str
    rows: list[EpisodeRow] = field(default_factory=list)
    turns: int = 0
    stop_reason: str = ""
    error: str | None = None  # an environment error: the trajectory is masked out of the loss
    final_reward: float = 0.0  # the environment's score(), on the last generated token
    transcript: list[tuple[str, str]] = field(
        default_factory=list
    )  # ("prompt" | "action" | "observation", text)
    step_latency_s: list[float] = field(default_factory=list)
    env_metrics: dict[str, list[float]] = field(default_factory=dict)
    finish_reasons: list[str] = field(default_factory=list)  # of each turn's generation: "stop" | "length"

    @property
    def turn_rewards(self) -> list[float]:
        return [r for row in self.rows for r in row.turn_rewards]

    @property
    def total_reward(self) -> float:
        return sum(self.turn_rewards) + self.final_reward

    @property
    def done(self) -> bool:
        return bool(self.stop_reason)

    def stop(self, reason: str, error: str | None = None) -> None:
        self.stop_reason, self.error = reason, error


@dataclass
class _Live:
    """A trajectory being played: its environment and token state."""

    traj: Trajectory
    env: Env
    renderer: TurnRenderer | None = None
    max_turns: int = 1
    action: tuple[list[int], str] = ([], "")  # this turn's kept ids and their text


def run_episodes(
    generate: Generate,
    tokenizer,
    samples: list[Sample],
    params: SamplingParams,
    cfg: MultiTurnConfig,
    executor: EnvExecutor,
) -> list[Trajectory]:
    """``params.n`` episodes of each sample (which must all have an ``env``), grouped by sample."""
    live = _start(tokenizer, samples, params.n, executor)
    while any(not e.traj.done for e in live):
        _play_turn(generate, tokenizer, [e for e in live if not e.traj.done], params, cfg, executor)
    scorable = [e for e in live if e.traj.error is None]
    for e, out in zip(scorable, executor.run([e.env.score for e in scorable]), strict=True):
        if out.error is not None:
            e.traj.error = f"score: {out.error}"
        elif out.value is not None:
            e.traj.final_reward = float(out.value)
    trajs = [e.traj for e in live]
    warn_env_errors(trajs)
    return trajs


def warn_env_errors(trajs: list[Trajectory]) -> None:
    """One warning a batch that names how many episodes an environment broke, and the first reason: the
    metrics only count them (``env_errors``), and a run whose every episode fails must not look like
    a policy that scores 0."""
    errors = [t.error for t in trajs if t.error is not None]
    if errors:
        log.warning(
            "%d of %d episodes ended with an environment error (masked out of training, counted in "
            "env_errors); the first: %s",
            len(errors),
            len(trajs),
            errors[0],
        )


def _start(tokenizer, samples: list[Sample], n: int, executor: EnvExecutor) -> list[_Live]:
    live = []
    for i, sample in enumerate(samples):
        if sample.env is None:
            raise ValueError(
                f"sample {sample.id!r} has no env: the episode runner plays multi-turn samples only"
            )
        for k in range(n):
            traj = Trajectory(i, k, sample.env.name, sample.data_source)
            live.append(_Live(traj, build_env(sample.env), max_turns=sample.env.max_turns))
    resets = executor.run([partial(e.env.reset, samples[e.traj.prompt_index]) for e in live])
    for e, out in zip(live, resets, strict=True):
        if out.error is not None or out.value is None:
            e.traj.rows.append(EpisodeRow([]))
            e.traj.stop("env_error", f"reset: {out.error or 'returned None'}")
            continue
        e.renderer = TurnRenderer(tokenizer, out.value)
        e.traj.rows.append(EpisodeRow(e.renderer.prompt_ids()))
        e.traj.transcript.append(("prompt", _text(out.value)))
    return live


def _play_turn(
    generate: Generate,
    tokenizer,
    live: list[_Live],
    params: SamplingParams,
    cfg: MultiTurnConfig,
    executor: EnvExecutor,
) -> None:
    """One turn of every live trajectory: generate (one engine call per stop-string set), step, append."""
    for e in live:
        if e.traj.rows[-1].total_len() >= cfg.max_total_tokens:
            e.traj.stop("max_total_tokens")
    live = [e for e in live if not e.traj.done]
    by_stop: dict[tuple[str, ...], list[_Live]] = {}
    for e in live:
        by_stop.setdefault(tuple(dict.fromkeys([*params.stop, *e.env.stop])), []).append(e)
    acted: list[_Live] = []
    for stop, group in by_stop.items():
        rows = [e.traj.rows[-1] for e in group]
        budget = max(cfg.max_total_tokens - r.total_len() for r in rows)
        turn_params = params.model_copy(
            update={"n": 1, "stop": list(stop), "max_new_tokens": min(params.max_new_tokens, budget)}
        )
        outs = generate([r.prompt_ids + r.token_ids for r in rows], turn_params)
        for e, row, c in zip(group, rows, outs, strict=True):
            ids, logps = _within_budget(c, cfg.max_total_tokens - row.total_len())
            row.add(ids, logps)
            row.turn_ends.append(len(row.token_ids) - 1)
            row.turn_rewards.append(0.0)
            e.traj.turns += 1
            e.traj.finish_reasons.append(c.finish_reason)
            text = c.text if len(ids) == len(c.token_ids) else tokenizer.decode(ids, skip_special_tokens=True)
            e.traj.transcript.append(("action", text))
            e.action = (ids, text)
            acted.append(e)
    steps = executor.run([partial(e.env.step, e.action[1]) for e in acted])
    for e, out in zip(acted, steps, strict=True):
        _after_step(e, out, cfg)


def _within_budget(c: Completion, room: int) -> tuple[list[int], list[float]]:
    """The completion's ids and log-probs cut to ``room`` tokens (at least 1)."""
    room = max(room, 1)
    return list(c.token_ids[:room]), list(c.logprobs[:room])


def _after_step(e: _Live, out: CallOutcome[StepResult], cfg: MultiTurnConfig) -> None:
    traj, row = e.traj, e.traj.rows[-1]
    ids, text = e.action
    traj.step_latency_s.append(out.latency_s)
    if out.error is not None or out.value is None:
        traj.stop("env_error", f"step {traj.turns}: {out.error or 'returned None'}")
        return
    result = out.value
    if not isinstance(result, StepResult):
        traj.stop("env_error", f"step {traj.turns}: returned {type(result).__name__}, not StepResult")
        return
    row.turn_rewards[-1] = float(result.reward)
    for k, v in result.metrics.items():
        traj.env_metrics.setdefault(k, []).append(float(v))
    if result.done:
        return traj.stop("done")
    if row.total_len() >= cfg.max_total_tokens:
        return traj.stop("max_total_tokens")
    if traj.turns >= e.max_turns:
        return traj.stop("max_turns")
    if result.observation is None:
        return traj.stop("env_error", f"step {traj.turns}: no observation and not done")
    assert e.renderer is not None
    try:
        nxt: Continuation = e.renderer.continue_after(ids, text, result.observation)
    except (TypeError, ValueError) as exc:
        return traj.stop("env_error", f"step {traj.turns}: {exc}")
    traj.transcript.append(("observation", _text(result.observation)))
    if nxt.new_row:
        traj.rows.append(EpisodeRow(nxt.ids))
    elif row.total_len() + len(nxt.ids) >= cfg.max_total_tokens:
        traj.stop("max_total_tokens")
    else:
        row.add(nxt.ids)
    if traj.rows[-1].total_len() >= cfg.max_total_tokens:
        traj.stop("max_total_tokens")


def _text(observation) -> str:
    if isinstance(observation, str):
        return observation
    return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in observation)
