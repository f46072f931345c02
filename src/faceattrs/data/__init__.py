"""UTKFace and FairFace data: audit, split, balancing, plots (no torch)."""
