"""kbsc.bridge (see DESIGN.md §3)."""
