"""Generation vs learner log-prob gap with images, per tiny VLM family, in float32 and float64, and the
gap Qwen's VLMs would have with rlvr's 1-D text positions instead of their 3-D M-RoPE. Three prompts of
different lengths and images (left padding; two image sizes), 3 samples each, 12 new tokens, T = 1.

    OMP_NUM_THREADS=1 python scripts/vlm_logprob_gap.py    # -> experiments/vlm_logprob_gap/gaps.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.vision.helpers import learner, samples, tiny_vlm  # noqa: E402

from rlvr.models.tiny_vlm import FAMILIES  # noqa: E402
from rlvr.rollout.prompts import encode_prompts  # noqa: E402
from rlvr.rollout.types import SamplingParams  # noqa: E402
from rlvr.rollout.vlm_generate import VisionEngine  # noqa: E402
from rlvr.training import vlm_forward  # noqa: E402
from rlvr.training.batch import collate  # noqa: E402


def gap(model, tok, one_d: bool = False) -> float:
    prompts = encode_prompts(tok, samples())
    completions = VisionEngine(model, tok, 64, seed=1).generate(
        prompts, SamplingParams(n=3, max_new_tokens=12)
    )
    batch = collate(completions, tok.pad_token_id)
    with mock.patch.object(vlm_forward, "mrope_positions", lambda *a, **k: None) if one_d else _null():
        logprobs = learner(model).logprobs(batch)
    return float(((logprobs - batch.behaviour_logprobs).abs() * batch.response_mask).max())


class _null:
    def __enter__(self) -> None: ...
    def __exit__(self, *a: object) -> None: ...


def main() -> None:
    out: dict[str, dict[str, float]] = {}
    for family in FAMILIES:
        model, tok = tiny_vlm(family)
        row = {"float64": gap(model, tok), "float32": gap(model.float(), tok)}
        if family.startswith("qwen"):
            row["float64_1d_positions"] = gap(model.double(), tok, one_d=True)
        out[family] = row
        print(family, {k: f"{v:.2e}" for k, v in row.items()}, flush=True)
    path = Path("experiments/vlm_logprob_gap/gaps.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
