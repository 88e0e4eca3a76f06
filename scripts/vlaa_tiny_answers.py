"""What each arm of scripts/vlaa_tiny_experiment.py answers on the 200 held-out shape_colour problems
(greedy, 112-pixel images as the twins'): the distinct answers and how often. Writes
experiments/vlaa_tiny/answers.json.

    OMP_NUM_THREADS=2 python scripts/vlaa_tiny_answers.py
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from pathlib import Path

from rlvr.config import ModelConfig
from rlvr.data.visual_tasks import shape_colour
from rlvr.models.load import load_model, load_tokenizer
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.rollout.vlm_generate import VisionEngine

warnings.filterwarnings("ignore")


def main() -> None:
    test = shape_colour(200, 3, image_size=112, side=28)
    out: dict[str, dict[str, int]] = {"gold": dict(Counter(s.reward.ground_truth for s in test))}
    runs = ["base/sft"]
    for seed in (0, 1, 2):
        runs += [
            f"sft-{seed}/sft",
            f"grpo-{seed}/final",
            f"sft-grpo-{seed}/final",
            f"blank-grpo-{seed}/final",
        ]
    for run in runs:
        cfg = ModelConfig(path=f"runs/vlaa-tiny/{run}", device="cpu")
        tok = load_tokenizer(cfg)
        engine = VisionEngine(load_model(cfg, tok), tok, 256, seed=0)
        blank = run.startswith("blank")
        prompts = encode_prompts(tok, shape_colour(200, 3, image_size=112, side=28, blank=blank))
        outs = engine.generate(prompts, SamplingParams(n=1, temperature=0, max_new_tokens=80))
        answers = Counter(c.text.split("<answer>")[-1].split("</answer>")[0].strip() for c in outs)
        out[run] = dict(answers)
        print(run, answers.most_common(4), flush=True)
    Path("experiments/vlaa_tiny/answers.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
