"""kbsc: a physical-layer comparison testbed for semantic image communication.

Subpackages by domain: ``data`` (datasets), ``features`` (extractors), ``kb`` (knowledge base),
``bridge`` (shared OFDM channel service), ``nrlink`` (the 5G NR link: MCS, TB coding, LDPC), ``metrics``,
``baselines`` (conventional and learned pixel systems), ``semantic`` (the KBSC codec), ``jscc``,
``experiments`` (grids, results, figures), ``tools`` (bench, estimate) and ``cli``. See docs/.
"""

from kbsc import _moved

__version__ = "0.1.0"

_moved.install()  # old module paths keep importing for one release (DeprecationWarning)
