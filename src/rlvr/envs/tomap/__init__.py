"""ToMAP: a persuader trained against a persuadee, with theory-of-mind modules (registers ``tomap``).

See docs/tomap.md. Data generators for recipes: ``rlvr.envs.tomap:episodes`` and
``rlvr.envs.tomap:scripted_sft`` (synthetic topics, offline persuadee) and ``rlvr.envs.tomap:claims_file``
(claims from a JSONL file, for an LM persuadee).
"""

from rlvr.envs.tomap.env import ToMAPEnv
from rlvr.envs.tomap.generators import claims_file, episodes, scripted_sft
from rlvr.envs.tomap.lm_persuadee import CHATS, LMPersuadee, parse_attitude, stance_from_ratings
from rlvr.envs.tomap.persuadee import SimulatedPersuadee
from rlvr.envs.tomap.topics import Topic, make_topic, topic_indices

__all__ = [
    "CHATS",
    "LMPersuadee",
    "SimulatedPersuadee",
    "ToMAPEnv",
    "Topic",
    "claims_file",
    "episodes",
    "make_topic",
    "parse_attitude",
    "scripted_sft",
    "stance_from_ratings",
    "topic_indices",
]
