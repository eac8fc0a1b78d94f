"""cofin serving."""
