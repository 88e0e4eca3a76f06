"""Evaluation: pass@k / avg@k / maj@k and benchmark runs."""
