"""kbsc.tools: what measures and documents the library from above it: ``kbsc bench`` (:mod:`~kbsc.tools.bench`
and the per-area timers ``link_bench``, ``bridge_bench``, ``ldpc_bench``, ``train_speed``, ``feature_cost``),
the grid cost estimate (:mod:`~kbsc.tools.estimate`) and the README results block
(:mod:`~kbsc.tools.readme_block`). The library below never imports this package."""
