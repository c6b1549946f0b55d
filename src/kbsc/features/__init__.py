"""kbsc.features (see DESIGN.md §3)."""
