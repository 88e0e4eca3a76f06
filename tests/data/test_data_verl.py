"""verl-style and V-Triune rows."""

from __future__ import annotations

from pathlib import Path

import datasets

from rlvr.data import RewardSpec, VerlMapping, load_verl


def _verl_row(source: str, index: int, truth: str = "72") -> dict:
    return {
        "data_source": source,
        "prompt": [{"role": "user", "content": f"question {index}"}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": {"split": "train", "index": index},
    }


def test_verl_parquet_mapping(tmp_path, write_parquet):
    rows = [
        _verl_row("openai/gsm8k", 0),
        _verl_row("DigitalLearningGmbH/MATH-lighteval", 1, "\\frac{1}{2}"),
        _verl_row("aime_2024", 2, "204"),
        _verl_row("hotpotqa", 3, "Paris"),
    ]
    samples = load_verl(write_parquet(tmp_path / "train.parquet", rows))
    assert [s.reward.verifier for s in samples] == ["math", "math", "math", "exact_match"]
    s = samples[0]
    assert s.id == "openai/gsm8k-train-0"
    assert s.messages == [{"role": "user", "content": "question 0"}] and s.prompt is None
    assert s.data_source == "openai/gsm8k"
    assert s.reward == RewardSpec("math", "72")
    assert s.metadata == {"split": "train", "index": 0, "ability": "math", "reward_style": "rule"}
    assert samples[1].reward.ground_truth == "\\frac{1}{2}"


def test_verl_verifier_map_and_row_ids(tmp_path, write_jsonl):
    rows = [_verl_row("hotpotqa", 0), _verl_row("nq", 0), _verl_row("gsm8k", 0)]
    for r in rows:
        r["extra_info"] = {"note": "no index"}
    mapping = VerlMapping(verifiers={"hotpotqa": "search_em"}, default_verifier="f1")
    samples = load_verl(write_jsonl(tmp_path / "mix.jsonl", rows), mapping)
    assert [s.reward.verifier for s in samples] == ["search_em", "f1", "math"]
    assert [s.id for s in samples] == ["mix-1", "mix-2", "mix-3"]


def test_verl_from_save_to_disk(tmp_path):
    datasets.Dataset.from_list([_verl_row("gsm8k", i) for i in range(3)]).save_to_disk(tmp_path / "ds")
    samples = load_verl(tmp_path / "ds")
    assert [s.id for s in samples] == ["gsm8k-train-0", "gsm8k-train-1", "gsm8k-train-2"]


def test_v_triune_rows(tmp_path, write_jsonl):
    rows = [
        {
            "data_source": "v_triune/math",
            "prompt": [{"role": "user", "content": "<image> What is the area?"}],
            "ability": "math",
            "images": ["img0.png"],
            "reward_model": {
                "answer": "12",
                "accuracy_ratio": 0.9,
                "format_ratio": 0.1,
                "verifier": "mathverify",
                "verifier_parm": {"det_verifier_normalized": False},
            },
            "extra_info": {"index": 5},
        },
        {
            "data_source": "v_triune/detection",
            "prompt": [{"role": "user", "content": "Find the cat."}],
            "reward_model": {
                "ground_truth": [[1, 2, 3, 4]],
                "accuracy_ratio": 1,
                "format_ratio": 0,
                "verifier": "detection",
                "verifier_parm": None,
            },
            "extra_info": {"index": 6},
        },
    ]
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "img0.png")  # found next to the data file
    math, det = load_verl(
        write_jsonl(tmp_path / "vt.jsonl", rows), VerlMapping(verifier_aliases={"mathverify": "math"})
    )
    assert math.reward == RewardSpec(
        "combined",
        "12",
        {
            "components": [
                {"verifier": "math", "weight": 0.9, "params": {"det_verifier_normalized": False}},
                {"verifier": "format", "weight": 0.1, "params": {}},
            ]
        },
    )
    assert math.metadata == {"index": 5, "ability": "math"}
    assert [Path(r.path).name for r in math.images] == ["img0.png"] and det.images == []
    # the official verifier names are scored by the official final reward, ratios as parameters
    assert det.reward == RewardSpec(
        "vtriune_detection", [[1, 2, 3, 4]], {"accuracy_ratio": 1.0, "format_ratio": 0.0}
    )
