"""Training machinery shared by every learned system (:mod:`kbsc.training.loop`), the model store
(:mod:`kbsc.training.store`) and the committed reference models (:mod:`kbsc.training.reference`)."""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562): the ``kbsc models`` command
# and the reference store import no torch
_EXPORTS = {
    "kbsc.training.loop": ("Budget", "TrainTask", "TrainingReport", "convergence", "run_training"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
