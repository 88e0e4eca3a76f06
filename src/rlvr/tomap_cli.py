"""``rlvr tomap train-attitude --out DIR``: collect labelled dialogues from a persuadee, train the attitude
predictor on the training topics, report its accuracy on the held-out topics, save it for ``tom: both``.

It lives outside ``rlvr.envs.tomap`` so that building the CLI's parser imports nothing of ``rlvr.envs``
(``rlvr --help`` stays fast); the command imports the package when it runs."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rlvr tomap`` to the CLI; the parsed args carry their ``handler``."""
    tomap = subparsers.add_parser("tomap", help="ToMAP persuasion: train the attitude predictor")
    sub = tomap.add_subparsers(dest="tomap_command", required=True)
    t = sub.add_parser(
        "train-attitude", help="collect labelled dialogues, train the attitude MLP, report held-out accuracy"
    )
    t.add_argument(
        "--out", required=True, help="directory for the predictor (attitude.pt, attitude.json, metrics.json)"
    )
    t.add_argument(
        "--embedder",
        default="wordllama",
        help="wordllama (offline, default) | hashing | sentence_transformers:<model>",
    )
    t.add_argument("--dialogues", type=int, default=8, help="dialogues per training topic (default 8)")
    t.add_argument(
        "--heldout-dialogues", type=int, default=2, help="dialogues per held-out topic (default 2)"
    )
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument(
        "--compact", action="store_true", help="theme names as counterclaims (the tiny recipe's prompts)"
    )
    t.add_argument("--world-seed", type=int, default=0, help="the synthetic topics' world (default 0)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--persuadee-chat",
        help='an LM persuadee instead of the simulated one, e.g. \'{"name": "hf", "path": "..."}\'',
    )
    t.set_defaults(handler=train_attitude_main)


def _embedder(text: str) -> dict[str, str] | str:
    if text.startswith("sentence_transformers:"):
        return {"name": "sentence_transformers", "model": text.split(":", 1)[1]}
    return text


def train_attitude_main(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from rlvr.envs.tomap.attitude import collect, records_to_jsonl, train
    from rlvr.envs.tomap.lm_persuadee import LMPersuadee, get_chat
    from rlvr.envs.tomap.topics import topic_indices

    torch.set_num_threads(max(1, torch.get_num_threads()))
    make = None
    if args.persuadee_chat:
        chat = get_chat(json.loads(args.persuadee_chat))
        make = lambda _seed: LMPersuadee(chat)  # noqa: E731
    common = {
        "rounds": args.rounds,
        "world_seed": args.world_seed,
        "compact": args.compact,
        "persuadee": make,
    }
    records = collect(topic_indices("train"), seed=args.seed, dialogues=args.dialogues, **common)
    heldout = collect(
        topic_indices("heldout"), seed=args.seed + 1, dialogues=args.heldout_dialogues, **common
    )
    model, metrics = train(records, heldout, _embedder(args.embedder), args.epochs, args.lr, seed=args.seed)
    out = model.save(args.out)
    records_to_jsonl(heldout, Path(out) / "heldout.jsonl")
    (Path(out) / "metrics.json").write_text(json.dumps(metrics, indent=1))
    print(json.dumps(metrics, indent=1))
    print(
        f"rlvr tomap: attitude predictor saved to {out} (use it with env params tom: both, attitude: {out})"
    )
    return 0
