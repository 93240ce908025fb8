"""Evals: scripted suites played through the real scene loop, deterministic metrics, an HTML report."""
