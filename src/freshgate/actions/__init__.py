"""The action gate: SOP cards as a tool permission table, checked before an agent acts."""
