"""Seed data (demo district, grids, officers, cameras)."""
