"""cofin training/evaluation."""
