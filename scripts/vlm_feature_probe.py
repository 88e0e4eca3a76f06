"""Linear probe: are a random tiny VLM's frozen image features informative about red_quadrant? Logistic
regression on the concatenated image-token features of 600 training images, accuracy on 200 held-out.
    OMP_NUM_THREADS=2 python scripts/vlm_feature_probe.py qwen2_5_vl|llava
"""

import sys
import warnings

import torch

from rlvr.data.visual_tasks import QUADRANTS, red_quadrant
from rlvr.models.tiny_vlm import build_tiny_vlm
from rlvr.models.vlm import attach_processor
from rlvr.rollout.prompts import encode_prompts

warnings.filterwarnings("ignore")

fam = sys.argv[1]
m, p = build_tiny_vlm(
    fam, 0, {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}
)
tok = attach_processor(p.tokenizer, p)


def feats(samples):
    out = []
    with torch.no_grad():
        for q in encode_prompts(tok, samples):
            t = q.vision.tensors
            f = (
                m.model.get_image_features(t["pixel_values"], t["image_grid_thw"])
                if fam.startswith("qwen")
                else m.model.get_image_features(t["pixel_values"])
            )
            f = f.pooler_output if hasattr(f, "pooler_output") else f
            f = f[0] if isinstance(f, (list, tuple)) else f
            out.append(f.reshape(-1))
    return torch.stack(out)


tr, te = red_quadrant(600, 1), red_quadrant(200, 3)
X, Xt = feats(tr), feats(te)
y = torch.tensor([QUADRANTS.index(s.reward.ground_truth) for s in tr])
yt = torch.tensor([QUADRANTS.index(s.reward.ground_truth) for s in te])
mu, sd = X.mean(0), X.std(0) + 1e-6
X, Xt = (X - mu) / sd, (Xt - mu) / sd
W = torch.zeros(X.size(1), 4, requires_grad=True)
opt = torch.optim.Adam([W], lr=1e-2)
for _ in range(500):
    loss = torch.nn.functional.cross_entropy(X @ W, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(
    fam,
    X.shape,
    "train acc",
    float(((X @ W).argmax(1) == y).float().mean()),
    "test acc",
    float(((Xt @ W).argmax(1) == yt).float().mean()),
)
