"""SFT probe: can a tiny VLM (frozen random vision tower) learn a visual task by supervised fine-tuning at all?
Short answers (just the label), batch 32, greedy accuracy on 100 held-out problems every 50 steps.
    OMP_NUM_THREADS=2 python scripts/vlm_sft_probe.py short HIDDEN LR STEPS FAMILY [MODULES_TO_UNFREEZE]
(weight decay 0, as the tiny twins' SFT; the task is set by the import below: shape_colour;
red_quadrant was probed with it swapped in).
"""

import dataclasses
import sys
import warnings

from rlvr.data.visual_tasks import shape_colour as red_quadrant
from rlvr.models.tiny_vlm import build_tiny_vlm
from rlvr.models.vlm import attach_processor, freeze_vision
from rlvr.rollout.prompts import encode_prompts
from rlvr.rollout.types import SamplingParams
from rlvr.rollout.vlm_generate import VisionEngine
from rlvr.training.vlm_sft import encode_vision_sft, sft_steps

warnings.filterwarnings("ignore")

short = sys.argv[1] == "short"
H = int(sys.argv[2])
lr = float(sys.argv[3])
m, p = build_tiny_vlm(
    sys.argv[5],
    0,
    {"hidden_size": H, "intermediate_size": 2 * H, "num_hidden_layers": 2, "num_attention_heads": 2},
)
tok = attach_processor(p.tokenizer, p)
freeze_vision(m)
if len(sys.argv) > 6:
    [getattr(m.model, n).requires_grad_(True) for n in sys.argv[6].split(",")]
train = red_quadrant(2000, 1)
test = red_quadrant(100, 3)
if short:
    train = [dataclasses.replace(s, response=s.reward.ground_truth) for s in train]
rows = [encode_vision_sft(tok, s) for s in train]


def report(step: int, loss: float) -> None:
    if step % 50 != 49:
        return
    e = VisionEngine(m, tok, 128, seed=0)
    outs = e.generate(
        encode_prompts(tok, test),
        SamplingParams(n=1, temperature=0, max_new_tokens=80 if not short else 14),
    )
    acc = sum(
        s.reward.ground_truth in c.text.split("<answer>")[-1] for s, c in zip(test, outs, strict=True)
    ) / len(test)
    print(step + 1, round(loss, 4), acc, flush=True)
    m.train()


sft_steps(m, rows, int(sys.argv[4]), lr=lr, pad_id=tok.pad_token_id, on_step=report)
