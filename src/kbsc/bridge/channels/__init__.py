"""Channel models by name (``CHANNELS``): awgn, rayleigh, tdl-a … tdl-e, authors-awgn, authors-rayleigh."""

from kbsc.bridge.channels import flat, tdl  # noqa: F401  (registers the models)
from kbsc.bridge.channels.base import CHANNELS, ChannelModel
from kbsc.bridge.channels.tdl import TDL, TDLProfile, tdl_profile

__all__ = ["CHANNELS", "TDL", "ChannelModel", "TDLProfile", "tdl_profile"]
