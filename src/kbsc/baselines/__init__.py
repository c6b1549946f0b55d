"""kbsc.baselines: the conventional baseline (HEVC intra / BPG-class coding + 5G NR transport-block LDPC + QAM
over the bridge), its capacity bound and best-MCS envelope, and (subpackages) the LDPC engine.

Public API: image codecs (:mod:`kbsc.baselines.codecs`: ``ImageCodec``, ``IMAGE_CODECS``, ``get_codec``),
MCS tables and TB sizes (:func:`mcs_entry`, :func:`plan_tb`), the link (:class:`NRLink`), the capacity
bound (:func:`capacity_bits`), metrics (:func:`psnr`, :func:`ms_ssim`), the cell pipeline
(:class:`BaselineRunner`) and the systems ``hevc+ldpc``, ``hevc+ldpc-best``, ``hevc+capacity``
(:mod:`kbsc.baselines.system`) and ``hevc+ldpc-amc`` (link adaptation, :mod:`kbsc.baselines.amc`, with its
AWGN thresholds from :mod:`kbsc.nrlink.amc_calibration`), imported by the system registry.
"""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.nrlink.capacity": ("capacity_bits", "channel_gains"),
    "kbsc.baselines.codecs": ("IMAGE_CODECS", "Encoded", "ImageCodec", "get_codec"),
    "kbsc.nrlink.link": ("DEFAULT_DECODER", "LinkResult", "NRLink"),
    "kbsc.nrlink.mcs": ("MCS_TABLES", "McsEntry", "TbPlan", "mcs_entry", "plan_tb"),
    "kbsc.metrics.image": ("ms_ssim", "psnr"),
    "kbsc.baselines.pipeline": ("FAILURE_MODES", "BaselineRunner", "CellResult", "fallback_image"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
