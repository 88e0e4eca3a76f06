"""Metric sinks and the run directory."""
