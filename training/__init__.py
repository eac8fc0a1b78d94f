"""cofin training."""
