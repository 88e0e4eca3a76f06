"""The attitude predictor: labelled dialogues from the persuadee, the paper's MLP shape, save / load,
the CLI command, and its predictions in the persuader's prompt (``tom: both``)."""

from __future__ import annotations

import json

import pytest
import torch

from rlvr.cli import main
from rlvr.data.sample import Sample
from rlvr.envs.tomap.attitude import AttitudeMLP, collect, get_embedder, load_predictor, train
from rlvr.envs.tomap.env import ToMAPEnv
from rlvr.envs.tomap.persuadee import SimulatedPersuadee
from rlvr.envs.tomap.topics import make_topic


def test_collected_labels_are_the_persuadees_attitudes() -> None:
    records = collect([1, 2], rounds=2, compact=True, seed=0)
    assert len(records) == 2 * 3 * 3  # topics x (rounds + 1) x counterclaims
    bob = SimulatedPersuadee(compact=True)
    bob.start(make_topic(1))
    assert [r.label for r in records[:3]] == [bob.attitude(r.counterclaim) for r in records[:3]]
    assert all(len(r.turns) == 2 * (i // 3) for i, r in enumerate(records[:9]))


def test_mlp_shape_is_the_papers() -> None:
    mlp = AttitudeMLP(512)
    widths = [(m.in_features, m.out_features) for m in mlp.net if isinstance(m, torch.nn.Linear)]
    assert widths == [(512, 1024), (1024, 512), (512, 128), (128, 5)]


def test_train_save_load_and_predict_in_the_env(tmp_path) -> None:
    records = collect(list(range(1, 9)), rounds=2, compact=True, seed=0)
    heldout = collect([0, 5], rounds=2, compact=True, seed=1)
    model, metrics = train(records, heldout, "hashing", epochs=2)
    assert metrics["train_records"] == 72 and metrics["heldout_records"] == 18
    assert 0.0 <= metrics["heldout_accuracy"] <= 1.0
    model.save(tmp_path / "p")
    loaded = load_predictor(tmp_path / "p")
    turns = ["it helps cost", "but jobs?"]
    assert loaded.predict(["cost", "jobs", "safety"], turns) == model.predict(
        ["cost", "jobs", "safety"], turns
    )
    env = ToMAPEnv(compact=True, tom="both", attitude=str(tmp_path / "p"))
    assert env.reset(Sample(id="s", prompt="-", metadata={"topic": make_topic(0).to_dict()})).count("/8") == 0
    result = env.step("<thought>t</thought><argument>it helps cost</argument>")
    predicted = loaded.predict(env.claims, env.turns)
    assert result.observation.endswith(
        ",".join(f"{c} {2 * a}/8" for c, a in zip(env.claims, predicted, strict=True)) + "\nA:"
    )
    assert 0.0 <= result.metrics["attitude_acc"] <= 1.0


def test_wordllama_embeds_offline() -> None:
    pytest.importorskip("wordllama")
    emb = get_embedder("wordllama")(["the cost is high", "jobs"])
    assert emb.shape == (2, 256) and emb.dtype == torch.float32


def test_cli_trains_and_reports_heldout_accuracy(tmp_path, capsys) -> None:
    out = tmp_path / "att"
    argv = ["tomap", "train-attitude", "--out", str(out), "--embedder", "hashing", "--dialogues", "1"]
    assert main([*argv, "--heldout-dialogues", "1", "--epochs", "1", "--compact", "--rounds", "1"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_records"] == 96 * 2 * 3 and metrics["heldout_records"] == 24 * 2 * 3
    assert "heldout_accuracy" in printed and (out / "attitude.pt").exists()
