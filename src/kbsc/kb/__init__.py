"""kbsc.kb (see DESIGN.md §3)."""
