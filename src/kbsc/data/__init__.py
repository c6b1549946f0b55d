"""kbsc.data (see DESIGN.md §3)."""
