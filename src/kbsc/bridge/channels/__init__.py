"""Channel models by name (``CHANNELS``): awgn, rayleigh, tdl-a … tdl-e (native), authors-awgn,
authors-rayleigh, and through Sionna (:mod:`.sionna_adapter`): cdl-a … cdl-e, sionna-tdl-a … sionna-tdl-e,
umi, uma, rma."""

from kbsc.bridge.channels import flat, sionna_adapter, tdl  # noqa: F401  (registers the models)
from kbsc.bridge.channels.base import CHANNELS, ChannelModel
from kbsc.bridge.channels.tdl import TDL, TDLProfile, tdl_profile

__all__ = ["CHANNELS", "TDL", "ChannelModel", "TDLProfile", "tdl_profile"]
