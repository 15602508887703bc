"""Not implemented yet (issue 3)."""
