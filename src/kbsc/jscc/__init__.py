"""Learned pixel-domain JSCC baselines (DeepJSCC, ADJSCC-style DeepJSCC, a SwinJSCC-class model) on the
bridge, and the plug-in route for outside models. Systems: ``deepjscc``, ``deepjscc-adaptive``, ``swinjscc``,
``plugin``, ``jscc-import`` (registered by :mod:`kbsc.jscc.system`)."""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.jscc.base": ("JSCCModel", "latent_to_symbols", "power_normalize", "symbols_to_latent"),
    "kbsc.jscc.deepjscc": ("DeepJSCC", "DeepJSCCAdaptive"),
    "kbsc.jscc.registry": ("MODELS",),
    "kbsc.jscc.swinjscc": ("SwinJSCC",),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
