"""kbsc.bridge: the OFDM channel service both systems transmit through, with identical realizations.

Public API: :class:`Bridge` (``transmit``, ``realize``, ``fingerprint``, ``export``/``from_export``),
:class:`BridgeOutput`, :class:`GridConfig`/:class:`ResourceGrid`, the registries ``CHANNELS`` and
``CSI_MODES``, :func:`make_bridge`, channel labels with options (:func:`channel_label`, :func:`parse_channel`,
:mod:`kbsc.bridge.channel_spec`), the Sionna channel adapter (:mod:`kbsc.bridge.channels.sionna_adapter`),
and :mod:`kbsc.bridge.modulation` (QAM mapping and LLR demapping).
"""

from kbsc.bridge.bridge import EQUALIZERS, SNR_RANGE_DB, Bridge, BridgeOutput, make_bridge
from kbsc.bridge.channel_spec import channel_label, parse_channel
from kbsc.bridge.channels import CHANNELS, TDL, ChannelModel, TDLProfile, tdl_profile
from kbsc.bridge.estimation import CSI_MODES, ChannelEstimator, lmmse_equalize
from kbsc.bridge.fingerprint import combine_fingerprints
from kbsc.bridge.grid import GridConfig, ResourceGrid
from kbsc.bridge.modulation import demap_llr, hard_decision_bits, map_bits, qam_constellation

__all__ = [
    "CHANNELS",
    "CSI_MODES",
    "EQUALIZERS",
    "SNR_RANGE_DB",
    "TDL",
    "Bridge",
    "BridgeOutput",
    "ChannelEstimator",
    "ChannelModel",
    "GridConfig",
    "ResourceGrid",
    "TDLProfile",
    "channel_label",
    "combine_fingerprints",
    "demap_llr",
    "hard_decision_bits",
    "lmmse_equalize",
    "make_bridge",
    "map_bits",
    "parse_channel",
    "qam_constellation",
    "tdl_profile",
]
