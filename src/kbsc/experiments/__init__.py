"""kbsc.experiments (see DESIGN.md §3)."""
