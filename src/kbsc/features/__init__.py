"""kbsc.features: images → L2-normalized 512-d features (stand-in CNN, CLIP ViT-B/32), feature cache."""

from kbsc.features.base import Extractor
from kbsc.features.cache import feature_cache_path, features_for
from kbsc.features.clip import ClipExtractor, load_clip
from kbsc.features.clip_preprocess import CLIP_MEAN, CLIP_STD, clip_preprocess
from kbsc.features.registry import EXTRACTORS, get_extractor
from kbsc.features.standin import (
    StandinConfig,
    StandinExtractor,
    standin_cache_dir,
    standin_from_cache,
    train_standin,
)

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "EXTRACTORS",
    "ClipExtractor",
    "Extractor",
    "StandinConfig",
    "StandinExtractor",
    "clip_preprocess",
    "feature_cache_path",
    "features_for",
    "get_extractor",
    "load_clip",
    "standin_cache_dir",
    "standin_from_cache",
    "train_standin",
]
