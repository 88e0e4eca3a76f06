"""The attitude predictor: an MLP over text embeddings of (counterclaim, dialogue so far) that predicts
the persuadee's attitude towards the counterclaim, 0 (Disagree) .. 4 (Agree).

As in the paper: input [e(counterclaim); e(dialogue)], hidden layers 1024-512-128, 5 classes, AdamW
(lr 5e-4, weight decay 0.1), dropout 0.1. Embedders, in a registry: ``wordllama`` (offline, 256-d,
loaded from the package folder with downloads disabled), ``sentence_transformers`` (BGE-M3 in the
paper, where a hub exists), ``hashing`` (a bag of hashed words, no dependency). Labelled dialogues are
collected from a persuadee (:func:`collect`): a scripted persuader argues about random themes and the
persuadee rates each counterclaim after every round.

    model = train(train_records, embedder)   # -> AttitudePredictor, metrics with held-out accuracy
    model.predict(["cost"], turns)           # -> [3]
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rlvr.envs.tomap.counterclaims import predict_counterclaims
from rlvr.envs.tomap.persuadee import Persuadee, SimulatedPersuadee
from rlvr.envs.tomap.prompts import format_turns
from rlvr.envs.tomap.topics import THEMES, make_topic
from rlvr.registry import Registry, build_once

Embed = Callable[[list[str]], Tensor]  # N texts -> (N, D) float32
EMBEDDERS: Registry[Callable[..., Embed]] = Registry("tomap embedder")
_EMBED_CACHE: dict[str, Embed] = {}


@EMBEDDERS.register("wordllama")
def wordllama_embedder(config: str = "l2_supercat", dim: int = 256) -> Embed:
    import wordllama  # type: ignore[import-untyped]
    from wordllama import WordLlama

    model = WordLlama.load(config, dim=dim, cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    return lambda texts: torch.as_tensor(model.embed(texts), dtype=torch.float32)


@EMBEDDERS.register("sentence_transformers")
def st_embedder(model: str = "BAAI/bge-m3") -> Embed:
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

    encoder = SentenceTransformer(model)
    return lambda texts: torch.as_tensor(
        encoder.encode(texts, normalize_embeddings=True), dtype=torch.float32
    )


@EMBEDDERS.register("hashing")
def hashing_embedder(dim: int = 256) -> Embed:
    """Each word adds +-1 at a hashed index; rows are L2-normalised. Deterministic, no dependency."""

    def embed(texts: list[str]) -> Tensor:
        out = torch.zeros(len(texts), dim)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % dim] += 1.0 if (h >> 32) & 1 else -1.0
        return torch.nn.functional.normalize(out, dim=1)

    return embed


def get_embedder(spec: dict[str, Any] | str) -> Embed:
    return build_once(EMBEDDERS, spec, _EMBED_CACHE)


class AttitudeMLP(nn.Module):
    """[e(counterclaim); e(dialogue)] (B, 2D) -> logits (B, 5)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (1024, 512, 128), dropout: float = 0.1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU(), nn.Dropout(dropout)]
            in_dim = width
        self.net = nn.Sequential(*layers, nn.Linear(in_dim, 5))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@dataclass
class Record:
    """One label: the persuadee's attitude (0..4) towards ``counterclaim`` after the dialogue ``turns``."""

    topic: int
    counterclaim: str
    turns: list[str]
    label: int


def features(embed: Embed, counterclaims: list[str], turns: list[list[str]]) -> Tensor:
    """(N, 2D): each counterclaim's embedding next to its dialogue's (the guesser's transcript)."""
    return torch.cat([embed(counterclaims), embed([format_turns(t, "guesser") for t in turns])], dim=1)


class AttitudePredictor:
    """A trained MLP and its embedder spec: ``predict(counterclaims, turns) -> attitudes 0..4``."""

    def __init__(self, mlp: AttitudeMLP, embedder: dict[str, Any] | str) -> None:
        self.mlp, self.embedder = mlp.eval(), embedder

    def predict(self, counterclaims: list[str], turns: list[str]) -> list[int]:
        x = features(get_embedder(self.embedder), counterclaims, [turns] * len(counterclaims))
        with torch.no_grad():
            return [int(k) for k in self.mlp(x).argmax(dim=1)]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        first = self.mlp.net[0]
        assert isinstance(first, nn.Linear)
        hidden = [m.out_features for m in self.mlp.net if isinstance(m, nn.Linear)][:-1]
        meta = {"embedder": self.embedder, "in_dim": first.in_features, "hidden": hidden}
        (path / "attitude.json").write_text(json.dumps(meta, indent=1))
        torch.save(self.mlp.state_dict(), path / "attitude.pt")
        return path


_LOADED: dict[str, AttitudePredictor] = {}


def load_predictor(path: str | Path) -> AttitudePredictor:
    """A predictor saved by :meth:`AttitudePredictor.save` (loaded once per process)."""
    key = str(Path(path).resolve())
    if key not in _LOADED:
        meta_file = Path(path) / "attitude.json"
        if not meta_file.exists():
            raise FileNotFoundError(
                f"{meta_file}: no attitude predictor here; train one with `rlvr tomap train-attitude`"
            )
        meta = json.loads(meta_file.read_text())
        mlp = AttitudeMLP(meta["in_dim"], tuple(meta["hidden"]))
        mlp.load_state_dict(torch.load(Path(path) / "attitude.pt", weights_only=True))
        _LOADED[key] = AttitudePredictor(mlp, meta["embedder"])
    return _LOADED[key]


def collect(
    topics: list[int],
    rounds: int = 3,
    world_seed: int = 0,
    seed: int = 0,
    compact: bool = False,
    informed: float = 0.5,
    dialogues: int = 1,
    persuadee: Callable[[int], Persuadee] | None = None,
) -> list[Record]:
    """Dialogues of a scripted persuader with the simulated persuadee, labelled after every round.

    Each turn the persuader names one theme: with probability ``informed`` the one the persuadee just
    voiced (or a listed counterclaim's), else a random one; the labels are the persuadee's attitudes
    towards the topic's three listed counterclaims (the ``topic_prior`` predictor's). ``dialogues`` per topic;
    ``persuadee(seed)`` builds the persuadee (default: the simulated one)."""
    rng = random.Random(f"collect-{seed}")
    records: list[Record] = []
    for index in [i for i in topics for _ in range(dialogues)]:
        topic = make_topic(index, world_seed)
        claims = predict_counterclaims({"name": "topic_prior", "compact": compact}, topic)
        bob_seed = rng.randrange(1 << 30)
        bob = persuadee(bob_seed) if persuadee else SimulatedPersuadee(compact=compact, seed=bob_seed)
        bob.start(topic)
        turns: list[str] = []
        for _ in range(rounds + 1):
            records += [Record(index, c, list(turns), bob.attitude(c)) for c in claims]
            if rng.random() < informed:
                hint = turns[-1] if turns else rng.choice(claims)
                theme = next(
                    (
                        t
                        for t, kws in THEMES.items()
                        if set(kws) & set(hint.lower().replace("?", " ").split())
                    ),
                    None,
                )
            else:
                theme = None
            keyword = rng.choice(THEMES[theme or rng.choice(sorted(THEMES))])
            argument = f"it helps {keyword}"
            turns += [argument, bob.reply(argument)]
    return records


def train(
    records: list[Record],
    heldout: list[Record],
    embedder: dict[str, Any] | str = "wordllama",
    epochs: int = 15,
    lr: float = 5e-4,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[AttitudePredictor, dict[str, float]]:
    """Train the MLP on ``records``; metrics: train and held-out accuracy, and the held-out majority-class
    baseline (always predicting the training set's most common label)."""
    torch.manual_seed(seed)
    embed = get_embedder(embedder)
    x = features(embed, [r.counterclaim for r in records], [r.turns for r in records])  # (N, 2D)
    y = torch.tensor([r.label for r in records])  # (N,)
    x_test = features(embed, [r.counterclaim for r in heldout], [r.turns for r in heldout])
    y_test = torch.tensor([r.label for r in heldout])
    mlp = AttitudeMLP(x.shape[1])
    opt = torch.optim.AdamW(mlp.parameters(), lr=lr, weight_decay=0.1)
    for _ in range(epochs):
        mlp.train()
        for idx in torch.randperm(len(y)).split(batch_size):
            loss = nn.functional.cross_entropy(mlp(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    mlp.eval()
    with torch.no_grad():
        train_acc = (mlp(x).argmax(1) == y).float().mean().item()
        test_acc = (mlp(x_test).argmax(1) == y_test).float().mean().item()
    majority = int(torch.bincount(y, minlength=5).argmax())
    metrics = {
        "train_accuracy": train_acc,
        "heldout_accuracy": test_acc,
        "heldout_majority_baseline": (y_test == majority).float().mean().item(),
        "train_records": float(len(y)),
        "heldout_records": float(len(y_test)),
    }
    return AttitudePredictor(mlp, embedder), metrics


def records_to_jsonl(records: list[Record], path: str | Path) -> None:
    Path(path).write_text("".join(json.dumps(asdict(r)) + "\n" for r in records))
