"""kbsc.experiments: config schema, grid runner, execution backends, results store, statistics, figures.

Public API::

    cfg = load_config("quick", ["snr_db=[0,10]"])
    summary = run_experiment(cfg, "runs/quick", backend="local", workers=2)
    make_figures(summary.results, "runs/quick/figures")
    compare_systems(load_outcomes("runs/quick"), "kbsc", "hevc+ldpc@10")
"""

from kbsc.util.lazy import lazy_exports

# public name → the module that defines it, imported on first access (PEP 562)
_EXPORTS = {
    "kbsc.experiments.backends": ("BACKENDS", "Backend", "get_backend"),
    "kbsc.experiments.config": (
        "ExperimentConfig",
        "SystemSpec",
        "cbr_label",
        "config_hash",
        "load_config",
        "parse_config",
    ),
    "kbsc.experiments.context": (
        "CONTEXT_BUILDERS",
        "ContextSpec",
        "balanced_subset",
        "build_context",
        "get_context",
    ),
    "kbsc.experiments.grid": ("Plan", "Task", "expand"),
    "kbsc.experiments.plot": ("make_figures", "summary_table"),
    "kbsc.experiments.results": ("RESULT_COLUMNS", "assemble", "load_outcomes", "load_results"),
    "kbsc.experiments.runner": ("FingerprintMismatch", "RunSummary", "run_experiment"),
    "kbsc.experiments.stats": (
        "compare_systems",
        "mcnemar_exact",
        "paired_diff_interval",
        "paired_test",
        "wilson",
    ),
    "kbsc.systems.base": (
        "SYSTEMS",
        "Cell",
        "EvalContext",
        "Outcomes",
        "System",
        "get_system",
        "system_names",
    ),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
