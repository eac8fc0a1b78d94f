"""cofin demo."""
