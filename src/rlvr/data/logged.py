"""Logged rollouts: the row format for offline RL, its loader, and the writer an online run uses.

A logged file (JSONL, one object per line, or Parquet, one row per row) holds scored completions, one a
row. Rows that complete the same prompt form a GRPO group. Offline training draws whole groups and trains
on them with the same advantages and losses as online training, correcting for the policy that sampled
them (the *behaviour* policy) with a token-level truncated importance ratio pi_theta / pi_behaviour.

One row::

    {"id": "12/3#0", "group": "12/3", "sample_id": "gsm8k-17", "data_source": "gsm8k", "verifier": "math",
     "prompt": "What is 6 * 7?", "prompt_ids": [1532, 374, 220, 21],
     "completion": "42", "completion_ids": [2983, 2],
     "behaviour_logprobs": [-0.31, -0.02],
     "reward": 1.0, "correct": true, "finish_reason": "stop", "step": 12, "policy_version": 11}

Fields (``null`` counts as absent; any other field is an error, so a misspelt name is caught; put extra
data under ``metadata``):

- the prompt: ``prompt`` (text, sent as is) or ``messages`` (chat messages, rendered with the tokenizer's
  chat template), and/or ``prompt_ids`` (token ids, which win when given; text alone is tokenized).
  At least one is required; ``prompt`` and ``messages`` exclude each other.
- the completion: ``completion`` (text) and/or ``completion_ids``. Ids win when given; text alone is
  tokenized *without special tokens*, so if the logger's log-probs cover an end-of-sequence token that
  the text does not show, give ``completion_ids``. Text alone is also only safe where tokenizing the
  completion apart from the prompt gives the tokens that were sampled (true of most BPE tokenizers at a
  prompt/completion boundary, not guaranteed).
- ``behaviour_logprobs``: one log-probability per completion token, under the sampling distribution
  (temperature applied, before top-k / top-p truncation; see :class:`~rlvr.rollout.types.Completion`).
  **Required**: the importance ratio needs pi_behaviour(token), and the data cannot be trained on
  correctly without it. ``load_logged(..., require_logprobs=False)`` accepts rows without it; their
  completions then carry ``logprobs=None`` and the trainer treats them as on-policy.
- ``reward`` (number): the total reward, as the router returns it (weights applied). A row whose
  verification failed has ``"reward": null`` and ``"error": "<message>"``; it is loaded as an errored
  result (score 0.0, ``error`` set), which the trainer masks out of the loss and out of its group's
  statistics and counts in the metrics, exactly as it does online. Nothing is dropped.
- ``correct`` (true / false / null): whether the answer counts as right, for accuracy metrics. When absent
  it is None (unknown), never guessed from the reward: a partial-credit or format reward above 0 is no
  proof of a right answer. For 0/1 rewards, ``reward_mean`` already is the accuracy.
- ``group`` (string or integer): rows sharing it form one group, and must share one prompt. Without it,
  rows with the same prompt token ids form a group (so a prompt logged at two steps would make one group;
  :func:`write_logged` writes ``group = "<step>/<prompt index>"`` for that reason). Groups keep the order
  of their first rows; within a group rows keep file order, which gives ``sample_index``.
- optional: ``id`` (string or integer, unique; default ``<file stem>-<row>``), ``sample_id`` (the prompt's
  Sample id; default the group id, or ``<file stem>-<first row>`` for prompt groups), ``data_source``
  (default ``"logged"``), ``verifier`` (a name for per-verifier metrics; default ``"logged"``; nothing is
  re-scored), ``finish_reason`` (``"stop"`` or ``"length"``, default ``"stop"``), ``step`` and
  ``policy_version`` (integers, kept in each result's ``info``), ``metadata`` (an object, kept in
  ``info["metadata"]``).

The rows are read and checked here (:func:`read_groups`); :func:`rlvr.training.logged.load_logged` serves
them to the trainer as batches.

Bad input raises :class:`~rlvr.data.errors.DataFormatError` listing every bad row (up to
``MAX_REPORTED_ERRORS`` problems, then a count), each as ``<file> row <n>: field '<name>' ...``; rows
number from 1 and, in JSONL, are line numbers. A file with a bad row loads nothing.
"""

from __future__ import annotations

from rlvr.data.logged_rows import (
    LOGPROB_TOLERANCE,
    MAX_REPORTED_ERRORS,
    LoggedCompletion,
    LoggedGroup,
    LoggedRow,
    read_groups,
)

__all__ = [
    "LOGPROB_TOLERANCE",
    "MAX_REPORTED_ERRORS",
    "LoggedCompletion",
    "LoggedGroup",
    "LoggedRow",
    "read_groups",
]
