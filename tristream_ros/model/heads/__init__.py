"""Output heads on the fusion decoder (action + pointer target)."""
