"""What each kind of information is worth against the offline persuadee: scripted persuaders on the
tiny recipe's held-out episodes (24 topics x 4 persuadee seeds), mean stance shift after 3 and 6 rounds.

    python scripts/tomap_scripted_baselines.py    # -> experiments/tomap/scripted.json

- random: a random theme each turn (the uninformed warm start's behaviour);
- answer_voiced: the concern the persuadee voiced last, with its keyword (turn 1: random), as an RL-only
  persuader could learn;
- counterclaims_first: as answer_voiced, but turn 1 answers the first listed counterclaim (what the
  counterclaim predictor adds);
- two_points: as counterclaims_first, plus the highest-agreement listed counterclaim in the same
  argument (two keywords; the persuadee counts up to two), with the true agreement (the oracle's).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from rlvr.envs.tomap import episodes
from rlvr.envs.tomap.env import ToMAPEnv
from rlvr.envs.tomap.topics import THEMES


def keyword_of(theme: str, used: set[str], rng: random.Random) -> str:
    fresh = [k for k in THEMES[theme] if k not in used]
    return rng.choice(fresh or list(THEMES[theme]))


def play(policy: str, rounds: int, seed: int = 0) -> float:
    rng = random.Random(seed)
    shifts = []
    for sample in episodes(96, seed=3, split="heldout", rounds=rounds, env={"compact": True}):
        env = ToMAPEnv(**{**sample.env.params, "tom": "oracle", "token_unit": "chars", "max_arg_tokens": 40})
        env.reset(sample)
        used: set[str] = set()
        voiced: str | None = None
        for _ in range(rounds):
            words = []
            if policy == "random" or (voiced is None and policy == "answer_voiced"):
                theme = rng.choice(sorted(THEMES))
                words.append(keyword_of(theme, used, rng))
            elif voiced is not None:
                words.append(voiced)
            else:
                words.append(keyword_of(env.claims[0], used, rng))
            if policy == "two_points":
                agreement = [env.persuadee.attitude(c) for c in env.claims]
                best = env.claims[max(range(len(env.claims)), key=lambda i: agreement[i])]
                words.append(keyword_of(best, used | set(words), rng))
            used |= set(words)
            result = env.step(f"<thought>t</thought><argument>it helps {' '.join(words)}</argument>")
            if result.done:
                shifts.append(result.metrics["shift_total"])
                break
            voiced = env.turns[-1].removeprefix("but ").removesuffix("?")
    return sum(shifts) / len(shifts)


def main() -> None:
    out = {
        f"{p}_r{r}": round(play(p, r), 3)
        for p in ("random", "answer_voiced", "counterclaims_first", "two_points")
        for r in (3, 6)
    }
    Path("experiments/tomap").mkdir(parents=True, exist_ok=True)
    Path("experiments/tomap/scripted.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
