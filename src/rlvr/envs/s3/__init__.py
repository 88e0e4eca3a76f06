"""s3: a searcher trained with the Gain Beyond RAG reward against a frozen generator (registers ``s3``)."""

from rlvr.envs.s3.accuracy import accuracy, exact_match, normalize, span_match
from rlvr.envs.s3.env import RAG_CACHE, S3Env
from rlvr.envs.s3.filter import drop_rag_answered, rag_filtered
from rlvr.envs.s3.generator import ANSWERERS, Answerer, get_answerer
from rlvr.envs.s3.scripted import QUERY_POLICIES, s3_scripted

__all__ = [
    "ANSWERERS",
    "RAG_CACHE",
    "QUERY_POLICIES",
    "Answerer",
    "S3Env",
    "accuracy",
    "drop_rag_answered",
    "exact_match",
    "get_answerer",
    "normalize",
    "rag_filtered",
    "s3_scripted",
    "span_match",
]
