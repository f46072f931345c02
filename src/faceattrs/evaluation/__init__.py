"""Accuracy of the models: metrics, evaluation through the detector, reports."""
