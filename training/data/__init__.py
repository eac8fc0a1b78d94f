"""cofin training/data."""
