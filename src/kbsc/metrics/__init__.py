"""kbsc.metrics: how results are scored. Image fidelity (:mod:`~kbsc.metrics.image`: PSNR, MS-SSIM) and
retrieval accuracy with its Wilson interval (:mod:`~kbsc.metrics.retrieval`). Pure numpy/scipy/torch: any
system or tool may use them."""

from kbsc.util.lazy import lazy_exports

_EXPORTS = {
    "kbsc.metrics.image": ("ms_ssim", "psnr"),
    "kbsc.metrics.retrieval": ("AccuracyResult", "accuracy", "wilson_interval"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
