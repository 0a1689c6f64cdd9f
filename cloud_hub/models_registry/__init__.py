"""Model files the hub serves to devices for `model_update`: content-addressed files on disk plus their registry."""
