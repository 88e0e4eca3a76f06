"""Samples with images: every loader, checked at load, decoded lazily; <image> placeholders as parts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from rlvr.data.errors import DataFormatError
from rlvr.data.images import ImageRef, split_image_placeholders, vision_messages
from rlvr.data.loaders import load_hf, load_jsonl, load_parquet
from rlvr.data.rows import sample_to_row


def _png(color: tuple[int, int, int], size: int = 4) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


def test_jsonl_paths_several_per_sample_relative_to_the_file(tmp_path, write_jsonl):
    (tmp_path / "a.png").write_bytes(_png((255, 0, 0)))
    (tmp_path / "b.png").write_bytes(_png((0, 0, 255)))
    rows = [{"id": "x", "prompt": "<image> left, <image> right: which is red?", "images": ["a.png", "b.png"]}]
    [s] = load_jsonl(write_jsonl(tmp_path / "d.jsonl", rows))
    assert [Path(r.path).name for r in s.images] == ["a.png", "b.png"]
    assert s.images[0].load().getpixel((0, 0)) == (255, 0, 0)  # decoded only now
    assert s.prompt == "<image> left, <image> right: which is red?"  # text models see the text


def test_missing_file_and_placeholder_mismatch_name_the_row(tmp_path, write_jsonl):
    (tmp_path / "a.png").write_bytes(_png((0, 0, 0)))
    rows = [
        {"id": "ok", "prompt": "<image>q", "images": ["a.png"]},
        {"id": "bad", "prompt": "q", "images": ["a.png", "nope.png"]},
    ]
    with pytest.raises(
        DataFormatError, match=r"d.jsonl row 2: field 'images\[1\]': image file 'nope.png' does not exist"
    ):
        load_jsonl(write_jsonl(tmp_path / "d.jsonl", rows))
    rows = [{"id": "two", "prompt": "<image><image>q", "images": ["a.png"]}]
    with pytest.raises(
        DataFormatError, match="row 1: the prompt has 2 '<image>' placeholders but the row has 1 images"
    ):
        load_jsonl(write_jsonl(tmp_path / "e.jsonl", rows))


def test_parquet_round_trip_with_bytes_and_pil(tmp_path, write_parquet):
    from rlvr.data.sample import RewardSpec, Sample

    s = Sample(
        id="p",
        prompt="<image><image>?",
        images=[ImageRef(data=_png((1, 2, 3))), ImageRef(pil=Image.new("RGB", (2, 2), (9, 8, 7)))],
    )
    t = Sample(id="t", prompt="text only")
    for x in (s, t):  # Arrow cannot write an empty params struct
        x.reward = RewardSpec("exact_match", "red", {"answer_tag": "answer"})
        x.metadata = {"k": 1}
    loaded = load_parquet(write_parquet(tmp_path / "d.parquet", [sample_to_row(s), sample_to_row(t)]))
    assert [im.load().getpixel((0, 0)) for im in loaded[0].images] == [(1, 2, 3), (9, 8, 7)]
    assert loaded[1].images == []


def test_hf_dataset_image_column(tmp_path):
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "prompt": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"id": ["h"], "prompt": ["<image>what colour?"], "images": [[Image.new("RGB", (3, 3), (0, 255, 0))]]},
        features=features,
    )
    ds.save_to_disk(tmp_path / "ds")
    [s] = load_hf(tmp_path / "ds")
    assert len(s.images) == 1 and s.images[0].load().getpixel((1, 1)) == (0, 255, 0)


def test_placeholders_become_content_parts():
    assert split_image_placeholders("<image>What is <image> it?") == [
        {"type": "image"},
        {"type": "text", "text": "What is "},
        {"type": "image"},
        {"type": "text", "text": " it?"},
    ]
    msgs = vision_messages([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], 1)
    assert msgs[1]["content"] == [{"type": "image"}, {"type": "text", "text": "q"}]
    assert msgs[0]["content"] == "s"


def test_easy_vqa_loader():
    pytest.importorskip("easy_vqa")
    from rlvr.data.easy_vqa import load_easy_vqa

    samples = load_easy_vqa("test", limit=3)
    assert samples[0].prompt == "<image>what is the red shape?"
    assert samples[0].reward.ground_truth == "triangle"
    image = samples[0].images[0].load()
    assert image.size == (64, 64)
