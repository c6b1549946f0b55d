"""kbsc.bridge: the OFDM channel service both systems transmit through, with identical realizations.

Public API: :class:`Bridge` (``transmit``, ``realize``, ``fingerprint``, ``export``/``from_export``),
:class:`BridgeOutput`, :class:`GridConfig`/:class:`ResourceGrid`, the registries ``CHANNELS`` and
``CSI_MODES``, :func:`make_bridge`, channel labels with options (:func:`channel_label`, :func:`parse_channel`,
:mod:`kbsc.bridge.channel_spec`), the Sionna channel adapter (:mod:`kbsc.bridge.channels.sionna_adapter`),
and :mod:`kbsc.bridge.modulation` (QAM mapping and LLR demapping).
"""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.bridge.bridge": ("EQUALIZERS", "SNR_RANGE_DB", "Bridge", "BridgeOutput", "make_bridge"),
    "kbsc.bridge.channel_spec": ("channel_label", "parse_channel"),
    "kbsc.bridge.channels": ("CHANNELS", "TDL", "ChannelModel", "TDLProfile", "tdl_profile"),
    "kbsc.bridge.estimation": ("CSI_MODES", "ChannelEstimator", "lmmse_equalize"),
    "kbsc.bridge.fingerprint": ("combine_fingerprints",),
    "kbsc.bridge.grid": ("GridConfig", "ResourceGrid"),
    "kbsc.bridge.modulation": ("demap_llr", "hard_decision_bits", "map_bits", "qam_constellation"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
