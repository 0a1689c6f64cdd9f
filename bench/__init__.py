"""Ingest benchmark: simulated devices, a private stack, figures as JSON lines (see docs/benchmarks.md)."""
