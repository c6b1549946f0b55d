"""kbsc: a physical-layer comparison testbed for semantic image communication.

Subpackages by domain: ``data`` (datasets), ``features`` (extractors), ``kb`` (knowledge base),
``bridge`` (shared OFDM channel service), ``baselines`` (conventional and learned pixel systems),
``semantic`` (the KBSC codec), ``experiments`` (grids, results, figures). See README.md.
"""

__version__ = "0.1.0"
