"""The persuasion environment (ToMAP, arXiv 2505.22961): a persuader argues for claim Q against a persuadee
for ``rounds`` rounds; each round's reward is the stance gain of that round plus format terms.

    reset   -> the persuader's first prompt (with the predicted counterclaims when ``tom`` is on)
    step    -> the action ``<thought>...</thought><argument>...</argument>``: the argument, cut to
               ``max_arg_tokens``, goes to the persuadee; its stance S is read before and after; the
               observation is its reply (plus the counterclaims and predicted agreement ``k/8``)

``tom``: ``none`` (RL only), ``counterclaims`` (listed, no attitudes), ``both`` (listed, with the attitude
predictor's agreement from the second turn on, as in the official ``black_external`` style), or
``oracle`` (the persuadee's true attitudes: an upper bound, the official ``white``).

Metrics per step: ``stance``, ``gain``, ``shift_r<k>`` (100 (S_k - S_0), cumulative), the reward terms,
``format_violation``, ``arg_tokens``; on the last round also ``shift_total``, ``repetition_rate`` and
``distinct1`` / ``distinct2`` of the persuader's arguments; ``attitude_acc`` when predictions are made
against the simulated persuadee.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rlvr.data.sample import Sample
from rlvr.envs.base import Env, Observation, StepResult
from rlvr.envs.registry import ENVS
from rlvr.envs.tomap.counterclaims import predict_counterclaims
from rlvr.envs.tomap.lm_persuadee import LMPersuadee, extract_tag, get_chat
from rlvr.envs.tomap.metrics import distinct_n, repetition_rate
from rlvr.envs.tomap.persuadee import Persuadee, SimulatedPersuadee
from rlvr.envs.tomap.prompts import PERSUADER_SYSTEM, PERSUADER_TURN, compact_tom, format_turns, tom_block
from rlvr.envs.tomap.reward import (
    format_reward,
    overlength_reward,
    persuasion_gain,
    repetition_reward,
    tag_reward,
    turn_reward,
)
from rlvr.envs.tomap.topics import Topic

TOM_MODES = ("none", "counterclaims", "both", "oracle")


@lru_cache(maxsize=8)
def _tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def count_and_cut(text: str, cap: int, unit: str) -> tuple[int, str]:
    """The length of ``text`` in ``unit`` (``words``, ``chars`` or a tokenizer path) and its first ``cap``."""
    if unit == "chars":
        return len(text), text[:cap]
    if unit == "words":
        parts = text.split()
        return len(parts), " ".join(parts[:cap])
    tok = _tokenizer(unit)
    ids = tok.encode(text, add_special_tokens=False)
    return len(ids), str(tok.decode(ids[:cap], skip_special_tokens=True))


def build_persuadee(spec: dict[str, Any] | str, compact: bool, seed: int) -> Persuadee:
    """``simulated`` (with its keyword arguments) or ``{"name": "lm", "chat": {...}, "malformed": ...}``."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = spec.pop("name")
    if name == "simulated":
        return SimulatedPersuadee(compact=compact, seed=seed, **spec)
    if name == "lm":
        return LMPersuadee(get_chat(spec.pop("chat")), **spec)
    raise ValueError(f"tomap persuadee must be 'simulated' or 'lm', got {name!r}")


@ENVS.register("tomap")
class ToMAPEnv(Env):
    """Params: ``persuadee`` (``simulated`` | ``{name: lm, chat: {name: hf, path: ...}}``), ``rounds``,
    ``max_arg_tokens`` and ``token_unit`` (``words`` | ``chars`` | a tokenizer path), ``tom`` (see the
    module), ``counterclaims`` (a source spec), ``generated`` / ``used`` counterclaims, ``attitude`` (a
    predictor directory, for ``tom: both``), ``compact`` (short raw-text prompts for a character-level
    model; else chat messages with the official prompts), the reward's ``aux_weight``,
    ``keep_negative``, ``curve_exp``, ``rep_ngram``, ``rep_threshold``, and the persuadee's ``seed``."""

    stop = ["</argument>"]

    def __init__(
        self,
        persuadee: dict[str, Any] | str = "simulated",
        rounds: int = 3,
        max_arg_tokens: int = 200,
        token_unit: str = "words",
        tom: str = "none",
        counterclaims: dict[str, Any] | str = "topic_prior",
        generated: int = 10,
        used: int = 3,
        attitude: str | None = None,
        compact: bool = False,
        aux_weight: float = 0.1,
        keep_negative: bool = True,
        curve_exp: float = 1.0,
        rep_ngram: int = 8,
        rep_threshold: float = 0.1,
        seed: int = 0,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        if tom not in TOM_MODES:
            raise ValueError(f"tomap env: tom must be one of {TOM_MODES}, got {tom!r}")
        if tom == "both" and attitude is None:
            raise ValueError(
                "tomap env: tom 'both' needs 'attitude', a predictor directory (rlvr tomap train-attitude)"
            )
        if rounds < 1 or max_arg_tokens < 1:
            raise ValueError(
                f"tomap env: rounds and max_arg_tokens must be >= 1, got {rounds}, {max_arg_tokens}"
            )
        self.persuadee = build_persuadee(persuadee, compact, seed)
        self.rounds, self.cap, self.unit, self.tom = rounds, max_arg_tokens, token_unit, tom
        self.counterclaim_spec: dict[str, Any] | str = counterclaims
        if counterclaims == "topic_prior":
            self.counterclaim_spec = {"name": "topic_prior", "compact": compact}
        self.generated, self.used, self.attitude_path, self.compact = generated, used, attitude, compact
        self.aux_weight, self.keep_negative, self.curve_exp = aux_weight, keep_negative, curve_exp
        self.rep_ngram, self.rep_threshold = rep_ngram, rep_threshold
        self.turns: list[str] = []
        self.stances: list[float] = []
        self.claims: list[str] = []

    def reset(self, sample: Sample) -> Observation:
        if "topic" not in sample.metadata:
            raise ValueError(f"sample {sample.id!r}: the tomap env needs metadata.topic (a Topic dict)")
        self.topic = Topic.from_dict(sample.metadata["topic"])
        self.persuadee.start(self.topic)
        self.turns, self.stances = [], [self.persuadee.stance()]
        self.claims = []
        if self.tom != "none":
            self.claims = predict_counterclaims(self.counterclaim_spec, self.topic, self.generated, self.used)
        if self.compact:
            return f"Q:{self.topic.claim}\n{compact_tom(self.claims, None)}A:"
        system = PERSUADER_SYSTEM.format(claim=self.topic.claim)
        first = self._turn_prompt(format_turns([], "persuader") + "\n", None)
        return [{"role": "system", "content": system}, {"role": "user", "content": first}]

    def _turn_prompt(self, turns: str, agreement: list[int] | None) -> str:
        return PERSUADER_TURN.format(tom=tom_block(self.claims, agreement), turns=turns, max_tokens=self.cap)

    def step(self, action: str) -> StepResult:
        argument = (
            (extract_tag(action, "argument") or "").removesuffix("</argument>").replace("\n", " ").strip()
        )
        n_tokens, said = count_and_cut(argument, self.cap, self.unit)
        previous = self.turns[0::2]
        aux = {
            "tag": tag_reward(action),
            "format": format_reward(action),
            "repeat": repetition_reward(said, previous, self.rep_ngram, self.rep_threshold),
            "overlength": overlength_reward(n_tokens, self.cap),
        }
        before = self.stances[-1]
        reply = self.persuadee.reply(said)
        after = self.persuadee.stance()
        self.turns += [said, reply]
        self.stances.append(after)
        gain = persuasion_gain(after, before, self.keep_negative, self.curve_exp)
        k = len(self.stances) - 1
        metrics = {
            "stance": after,
            "gain": gain,
            f"shift_r{k}": 100.0 * (after - self.stances[0]),
            "format_violation": 1.0 - aux["format"],
            "arg_tokens": float(n_tokens),
            **{f"r_{name}": v for name, v in aux.items()},
        }
        done = k >= self.rounds
        if done:
            arguments = self.turns[0::2]
            metrics |= {
                "shift_total": 100.0 * (after - self.stances[0]),
                "repetition_rate": repetition_rate(arguments, 2),
                "distinct1": distinct_n(arguments, 1),
                "distinct2": distinct_n(arguments, 2),
            }
        reward = turn_reward(gain, aux, self.aux_weight)
        if done:
            return StepResult(None, reward=reward, done=True, metrics=metrics)
        agreement = self._agreement(metrics)
        if self.compact:
            return StepResult(f"\nB:{reply}\n{compact_tom(self.claims, agreement)}A:", reward, False, metrics)
        text = f'Bob (turn {2 * k + 2}): "{reply}"\n\n' + self._turn_prompt("", agreement)
        return StepResult([{"role": "user", "content": text}], reward, False, metrics)

    def _agreement(self, metrics: dict[str, float]) -> list[int] | None:
        """Predicted agreement k/8 (twice the 0..4 attitude) with each counterclaim, or None."""
        if self.tom in ("none", "counterclaims") or not self.claims:
            return None
        if self.tom == "oracle":
            return [2 * self.persuadee.attitude(c) for c in self.claims]
        from rlvr.envs.tomap.attitude import load_predictor  # torch, only when predicting

        assert self.attitude_path is not None
        predicted = load_predictor(self.attitude_path).predict(self.claims, self.turns)
        if isinstance(self.persuadee, SimulatedPersuadee):
            truth = [self.persuadee.attitude(c) for c in self.claims]
            metrics["attitude_acc"] = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
        return [2 * a for a in predicted]
