"""kbsc.experiments: config schema, grid runner, execution backends, results store, statistics, figures.

Public API::

    cfg = load_config("quick", ["snr_db=[0,10]"])
    summary = run_experiment(cfg, "runs/quick", backend="local", workers=2)
    make_figures(summary.results, "runs/quick/figures")
    compare_systems(load_outcomes("runs/quick"), "kbsc", "hevc+ldpc@10")
"""

from kbsc.experiments.backends import BACKENDS, Backend, get_backend
from kbsc.experiments.config import (
    ExperimentConfig,
    SystemSpec,
    cbr_label,
    config_hash,
    load_config,
    parse_config,
)
from kbsc.experiments.context import (
    CONTEXT_BUILDERS,
    ContextSpec,
    balanced_subset,
    build_context,
    get_context,
)
from kbsc.experiments.grid import Plan, Task, expand
from kbsc.experiments.plot import make_figures, summary_table
from kbsc.experiments.results import RESULT_COLUMNS, assemble, load_outcomes, load_results
from kbsc.experiments.runner import FingerprintMismatch, RunSummary, run_experiment
from kbsc.experiments.stats import compare_systems, mcnemar_exact, paired_diff_interval, paired_test, wilson
from kbsc.systems.base import SYSTEMS, Cell, EvalContext, Outcomes, System, get_system, system_names

__all__ = [
    "BACKENDS",
    "CONTEXT_BUILDERS",
    "RESULT_COLUMNS",
    "SYSTEMS",
    "Backend",
    "Cell",
    "ContextSpec",
    "EvalContext",
    "ExperimentConfig",
    "FingerprintMismatch",
    "Outcomes",
    "Plan",
    "RunSummary",
    "System",
    "SystemSpec",
    "Task",
    "assemble",
    "balanced_subset",
    "build_context",
    "cbr_label",
    "compare_systems",
    "config_hash",
    "expand",
    "get_backend",
    "get_context",
    "get_system",
    "load_config",
    "load_outcomes",
    "load_results",
    "make_figures",
    "mcnemar_exact",
    "paired_diff_interval",
    "paired_test",
    "parse_config",
    "run_experiment",
    "summary_table",
    "system_names",
    "wilson",
]
