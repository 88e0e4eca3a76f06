"""Datasets: the Sample schema, loaders and task generators."""

from rlvr.data.sample import RewardSpec, Sample

__all__ = ["RewardSpec", "Sample"]
