"""easy-VQA (PyPI ``easy-vqa``): a small real visual question answering set shipped inside its wheel.

64x64 images of one coloured shape; questions such as "what is the red shape?" with 13 one-word
answers. ``load_easy_vqa`` gives samples with the image as a path and ``exact_match`` against the
answer. Needs ``pip install easy-vqa`` (the ``vision`` extra).
"""

from __future__ import annotations

from rlvr.data.images import IMAGE_PLACEHOLDER, ImageRef
from rlvr.data.sample import RewardSpec, Sample


def load_easy_vqa(split: str = "test", limit: int | None = None) -> list[Sample]:
    """The first ``limit`` questions of ``split`` ("train": 38,575, "test": 9,673) as samples whose
    prompt is ``"<image>" + question`` and whose verifier is ``exact_match`` on the one-word answer."""
    try:
        import easy_vqa
    except ImportError as exc:
        raise ImportError("load_easy_vqa needs the easy-vqa package: pip install easy-vqa") from exc
    if split not in ("train", "test"):
        raise ValueError(f"easy-vqa splits are 'train' and 'test', got {split!r}")
    questions, answers, image_ids = getattr(easy_vqa, f"get_{split}_questions")()
    paths = getattr(easy_vqa, f"get_{split}_image_paths")()
    n = len(questions) if limit is None else min(limit, len(questions))
    return [
        Sample(
            id=f"easy_vqa-{split}-{i}",
            prompt=IMAGE_PLACEHOLDER + questions[i],
            data_source="easy_vqa",
            reward=RewardSpec("exact_match", answers[i]),
            images=[ImageRef(path=paths[image_ids[i]])],
        )
        for i in range(n)
    ]
