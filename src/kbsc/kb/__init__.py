"""kbsc.kb: the receiver's knowledge base (FAISS search, save/load with a manifest) and semantic accuracy."""

from kbsc.kb.index import INDEXES, build_index, gpu_available
from kbsc.kb.knowledge_base import KnowledgeBase
from kbsc.metrics.retrieval import AccuracyResult, accuracy, wilson_interval

__all__ = [
    "INDEXES",
    "AccuracyResult",
    "KnowledgeBase",
    "accuracy",
    "build_index",
    "gpu_available",
    "wilson_interval",
]
