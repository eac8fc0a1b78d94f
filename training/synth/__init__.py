"""cofin training/synth."""
