"""Evidence pictures: content-addressed storage (by sha256) behind a small interface."""
