"""``rlvr eval`` on data with ``env`` rows: episodes are played (greedy, held out) and reported per
environment (success, mean return, turns), next to the verifiers' accuracy on single-turn rows."""

import json
import re

import pytest
import yaml

from rlvr.cli import main
from rlvr.data import generate
from rlvr.eval.episodes import episode_summary, evaluate_mixed
from rlvr.models.tiny import build_tokenizer
from rlvr.rewards.router import RewardRouter
from rlvr.rollout.types import Completion, SamplingParams
from rlvr.training.multiturn_config import MultiTurnConfig

from ..training.helpers import TINY

# guesses of a binary search over 1..8 (midpoint of the open range) until each secret
BISECTION_TURNS = {1: 3, 2: 2, 3: 3, 4: 1, 5: 3, 6: 2, 7: 3, 8: 4}


class Oracle:
    """Answers ``sort 583920=`` with the sorted digits and plays guess_number by bisection of the range
    that the last feedback names; records the sampling parameters it was asked for."""

    def __init__(self) -> None:
        self.tokenizer = build_tokenizer()
        self.params: list[SamplingParams] = []

    def generate(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        self.params.append(params)
        out = []
        for i, ids in enumerate(prompts):
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if text.startswith("sort "):
                answer = "".join(sorted(text[5:-1]))
            else:
                low, high = map(int, re.findall(r"(\d+)-(\d+)\n", text)[-1])
                answer = f"{(low + high) // 2}\n"
            tokens = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
            for k in range(params.n):
                out.append(Completion(i, tokens, [0.0] * len(tokens), answer, "stop", list(ids), k))
        return out


def test_a_mixed_eval_set_reports_accuracy_and_episodes_per_environment():
    episodes = generate("guess_number", 16, seed=3, high=8, max_turns=4, hint_range=True, split="eval")
    single = generate("digit_sort", 5, seed=4, num_digits=4, split="eval")
    router = RewardRouter()
    engine = Oracle()
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=3)
    try:
        m = evaluate_mixed(engine, single + episodes, router, params, [1], MultiTurnConfig(env_workers=0))
    finally:
        router.close()
    turns = [BISECTION_TURNS[s.metadata["secret"]] for s in episodes]
    assert m["eval/digit_sort/accuracy"] == 1.0 and m["eval/digit_sort/problems"] == 5.0
    assert "eval/guess_number/accuracy" not in m, "episodes are not scored by a verifier"
    assert m["eval/episode/guess_number/success_rate"] == 1.0
    assert m["eval/episode/guess_number/return_mean"] == 1.0
    assert m["eval/episode/guess_number/turns_mean"] == pytest.approx(sum(turns) / 16)
    assert (
        m["eval/episode/guess_number/stop/done"] == 1.0 and m["eval/episode/guess_number/trajectories"] == 16
    )
    assert all(p.temperature == 0.0 for p in engine.params)  # greedy, as eval says
    assert episode_summary(m) == [
        f"guess_number: success 1.000, mean return 1.000, turns {sum(turns) / 16:.2f} (16 episodes)"
    ]


def test_rlvr_eval_plays_the_episodes_of_a_recipe(tmp_path, capsys):
    guess = {"high": 8, "max_turns": 3, "hint_range": True}
    recipe = {
        "name": "tiny-episodes",
        "model": {"tiny": TINY},
        "data": {
            "train": [
                {"type": "synthetic", "generator": "guess_number", "size": 8, "seed": 1, "kwargs": guess}
            ],
            "eval": [
                {"type": "synthetic", "generator": "guess_number", "size": 6, "seed": 2, "kwargs": guess},
                {
                    "type": "synthetic",
                    "generator": "digit_sort",
                    "size": 4,
                    "seed": 3,
                    "kwargs": {"num_digits": 3},
                },
            ],
        },
        "rollout": {"max_new_tokens": 3},
        "multiturn": {"max_total_tokens": 32, "env_workers": 0},
        "trainer": {"output_dir": str(tmp_path)},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = tmp_path / "eval.json"
    assert main(["--quiet", "eval", str(path), "--output", str(result)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(result.read_text())
    assert metrics["eval/episode/guess_number/trajectories"] == 6.0
    assert metrics["eval/episode/guess_number/turns_mean"] >= 1.0
    assert metrics["eval/episode/guess_number/stop/env_error"] == 0.0
    assert metrics["eval/digit_sort/problems"] == 4.0 and metrics["eval/all/problems"] == 4.0
    success = metrics["eval/episode/guess_number/success_rate"]
    assert f"rlvr eval: guess_number: success {success:.3f}" in out
