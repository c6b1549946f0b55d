"""Learned pixel-domain JSCC baselines (DeepJSCC, ADJSCC-style DeepJSCC, a SwinJSCC-class model) on the
bridge, and the plug-in route for outside models. Systems: ``deepjscc``, ``deepjscc-adaptive``, ``swinjscc``,
``plugin``, ``jscc-import`` (registered by :mod:`kbsc.jscc.system`)."""

from kbsc.jscc.base import JSCCModel, latent_to_symbols, power_normalize, symbols_to_latent
from kbsc.jscc.deepjscc import DeepJSCC, DeepJSCCAdaptive
from kbsc.jscc.registry import MODELS
from kbsc.jscc.swinjscc import SwinJSCC

__all__ = [
    "MODELS",
    "DeepJSCC",
    "DeepJSCCAdaptive",
    "JSCCModel",
    "SwinJSCC",
    "latent_to_symbols",
    "power_normalize",
    "symbols_to_latent",
]
