"""Name → model class registry of the learned pixel JSCC models (``deepjscc``, ``deepjscc-adaptive``,
``swinjscc``)."""

from __future__ import annotations

from kbsc.util.registry import Registry

__all__ = ["MODELS"]

MODELS: Registry[type] = Registry("JSCC model", modules=("kbsc.jscc.deepjscc", "kbsc.jscc.swinjscc"))
