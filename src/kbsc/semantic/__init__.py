"""kbsc.semantic: the KBSC feature codec (arXiv 2504.01053), its training through the bridge, the no-codec
reference and their evaluation by knowledge-base retrieval (DESIGN.md §3)."""

from kbsc.semantic.codec import CODECS, KBSCCodec, KBSCSNRCodec, SemanticCodec, normalize_power
from kbsc.semantic.evaluate import SemanticEval, decode_features, evaluate_codec, retrieve_labels
from kbsc.semantic.reference import NoCodec
from kbsc.semantic.train import (
    AUTHORS_SNRS,
    SETTINGS,
    TrainConfig,
    TrainData,
    TrainResult,
    build_codec,
    load_codec,
    model_dir,
    train_codec,
    training_data,
)
from kbsc.semantic.transmit import transmit

__all__ = [
    "AUTHORS_SNRS",
    "CODECS",
    "SETTINGS",
    "KBSCCodec",
    "KBSCSNRCodec",
    "NoCodec",
    "SemanticCodec",
    "SemanticEval",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "build_codec",
    "decode_features",
    "evaluate_codec",
    "load_codec",
    "model_dir",
    "normalize_power",
    "retrieve_labels",
    "train_codec",
    "training_data",
    "transmit",
]
