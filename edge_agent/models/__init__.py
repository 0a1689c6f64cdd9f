"""Model manifest: which weights exist, how they are verified, fed and decoded."""
