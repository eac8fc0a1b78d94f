"""cofin training/configs."""
