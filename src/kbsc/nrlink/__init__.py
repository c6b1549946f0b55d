"""kbsc.nrlink: the 5G NR physical link shared by every system that sends bits: MCS tables and transport-block
sizes (:mod:`~kbsc.nrlink.mcs`), the TB encoder (:mod:`~kbsc.nrlink.tb_encoder`), the compiled LDPC engine
(:mod:`~kbsc.nrlink.ldpc`), the link itself (:class:`NRLink`), the capacity bound
(:mod:`~kbsc.nrlink.capacity`) and link adaptation's AWGN thresholds (:mod:`~kbsc.nrlink.amc_calibration`).
Used by the conventional baselines (``kbsc.baselines``) and the digital semantic system (``kbsc.semantic``).
"""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.nrlink.capacity": ("capacity_bits", "channel_gains"),
    "kbsc.nrlink.link": ("DEFAULT_DECODER", "LinkResult", "NRLink"),
    "kbsc.nrlink.mcs": ("MCS_TABLES", "McsEntry", "TbPlan", "mcs_entry", "plan_tb"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
