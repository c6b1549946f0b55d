"""kbsc.semantic: the KBSC feature codec (arXiv 2504.01053), its training through the bridge, the no-codec
reference and their evaluation by knowledge-base retrieval (docs/design.md §3)."""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.semantic.codec": ("CODECS", "KBSCCodec", "KBSCSNRCodec", "SemanticCodec", "normalize_power"),
    "kbsc.semantic.evaluate": ("SemanticEval", "decode_features", "evaluate_codec", "retrieve_labels"),
    "kbsc.semantic.reference": ("NoCodec",),
    "kbsc.semantic.train": (
        "AUTHORS_SNRS",
        "SETTINGS",
        "TrainConfig",
        "TrainData",
        "TrainResult",
        "build_codec",
        "load_codec",
        "model_dir",
        "train_codec",
        "training_data",
    ),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
