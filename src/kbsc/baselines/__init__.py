"""kbsc.baselines: the conventional baseline (HEVC intra / BPG-class coding + 5G NR transport-block LDPC + QAM
over the bridge), its capacity bound and best-MCS envelope, and (subpackages) the LDPC engine.

Public API: image codecs (:mod:`kbsc.baselines.codecs`: ``ImageCodec``, ``IMAGE_CODECS``, ``get_codec``),
MCS tables and TB sizes (:func:`mcs_entry`, :func:`plan_tb`), the link (:class:`NRLink`), the capacity
bound (:func:`capacity_bits`), metrics (:func:`psnr`, :func:`ms_ssim`), the cell pipeline
(:class:`BaselineRunner`) and the systems ``hevc+ldpc``, ``hevc+ldpc-best``, ``hevc+capacity``
(:mod:`kbsc.baselines.system`) and ``hevc+ldpc-amc`` (link adaptation, :mod:`kbsc.baselines.amc`, with its
AWGN thresholds from :mod:`kbsc.baselines.amc_calibration`), imported by the system registry.
"""

from kbsc.baselines.capacity import capacity_bits, channel_gains
from kbsc.baselines.codecs import IMAGE_CODECS, Encoded, ImageCodec, get_codec
from kbsc.baselines.link import DEFAULT_DECODER, LinkResult, NRLink
from kbsc.baselines.mcs import MCS_TABLES, McsEntry, TbPlan, mcs_entry, plan_tb
from kbsc.baselines.metrics import ms_ssim, psnr
from kbsc.baselines.pipeline import FAILURE_MODES, BaselineRunner, CellResult, fallback_image

__all__ = [
    "DEFAULT_DECODER",
    "FAILURE_MODES",
    "IMAGE_CODECS",
    "MCS_TABLES",
    "BaselineRunner",
    "CellResult",
    "Encoded",
    "ImageCodec",
    "LinkResult",
    "McsEntry",
    "NRLink",
    "TbPlan",
    "capacity_bits",
    "channel_gains",
    "fallback_image",
    "get_codec",
    "mcs_entry",
    "ms_ssim",
    "plan_tb",
    "psnr",
]
