"""rlvr: reinforcement learning from verifiable rewards.

Heavy modules (torch, transformers) are imported lazily by the pieces that need them, so that
``rlvr --help`` stays fast.
"""

__version__ = "0.1.0"
