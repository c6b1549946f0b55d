"""kbsc.baselines (see DESIGN.md §3)."""
