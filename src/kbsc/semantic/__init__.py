"""kbsc.semantic (see DESIGN.md §3)."""
