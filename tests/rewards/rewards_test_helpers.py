"""Verifiers for the router tests, named ``<this module>:<fn>`` so spawned workers can import them."""

import os
import time

from rlvr.rewards import RewardResult


def echo(completion, ground_truth, *, completion_tokens, sample_key, scale=1.0):
    return RewardResult(scale, True, {"tokens": completion_tokens, "key": sample_key})


def with_kwargs(completion, ground_truth, **kwargs):
    return RewardResult(1.0, None, {"kwargs": sorted(kwargs)})


def plain(completion, ground_truth):
    return RewardResult(float(completion == ground_truth), completion == ground_truth)


def boom(completion, ground_truth):
    raise ValueError("bad input")


def not_a_result(completion, ground_truth):
    return "1.0"  # a string: neither a number nor a RewardResult


def sleepy(completion, ground_truth, *, seconds=10.0):
    time.sleep(seconds)
    return RewardResult(1.0, True)


def crash(completion, ground_truth):
    os._exit(3)  # the worker process dies
