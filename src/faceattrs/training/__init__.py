"""Training, export and baselines. The only subpackage that imports torch."""
