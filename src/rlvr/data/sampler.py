"""Batches of prompt indices, infinite over epochs, with a position that a checkpoint can restore."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any


class PromptSampler:
    """Yields batches of indices into a dataset of ``num_samples`` prompts, epoch after epoch.

    Epoch ``e`` visits the indices in the order ``random.Random(seed + e)`` shuffles them (or in order
    when ``shuffle=False``). With ``drop_last`` an epoch ends before a batch that would be short;
    otherwise its last batch may be short.

    The state is the position of the *next* batch: ``{"epoch", "index", "seed"}`` where ``index`` is
    the offset into epoch ``epoch``'s order. When an epoch runs out, the state moves to ``(epoch + 1,
    0)`` at once, so a state saved after the last batch of an epoch resumes at the first batch of the
    next one: never skipping or repeating a batch.
    """

    def __init__(
        self, num_samples: int, batch_size: int, seed: int = 0, shuffle: bool = True, drop_last: bool = True
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and batch_size > num_samples:
            raise ValueError(
                f"batch_size={batch_size} > num_samples={num_samples} with drop_last=True would yield no batch"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self.index = 0
        self._order: list[int] | None = None
        self._order_epoch = -1

    @property
    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _epoch_order(self) -> list[int]:
        if self._order is None or self._order_epoch != self.epoch:
            order = list(range(self.num_samples))
            if self.shuffle:
                random.Random(self.seed + self.epoch).shuffle(order)
            self._order, self._order_epoch = order, self.epoch
        return self._order

    def _epoch_done(self) -> bool:
        left = self.num_samples - self.index
        return left <= 0 or (self.drop_last and left < self.batch_size)

    def next_batch(self) -> list[int]:
        """The next batch of indices; moves the position past it."""
        batch = self._epoch_order()[self.index : self.index + self.batch_size]
        self.index += len(batch)
        if self._epoch_done():
            self.epoch += 1
            self.index = 0
        return batch

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position (the saved seed replaces this sampler's)."""
        missing = {"epoch", "index", "seed"} - set(state)
        if missing:
            raise ValueError(f"sampler state is missing {sorted(missing)}; got keys {sorted(state)}")
        epoch, index, seed = int(state["epoch"]), int(state["index"]), int(state["seed"])
        if epoch < 0 or not 0 <= index < self.num_samples:
            raise ValueError(
                f"sampler state epoch={epoch}, index={index} is out of range for num_samples={self.num_samples}"
            )
        self.epoch, self.index, self.seed = epoch, index, seed
        self._order = None
        if self._epoch_done():  # a state from a sampler with a different batch size, at its epoch's end
            self.epoch, self.index = epoch + 1, 0
