"""The model chain: train (Ultralytics), export to ONNX with a manifest entry, evaluate, publish to the hub.

Only `models.cli` is imported by `cityops`; it imports the standard library alone, so `cityops models --help` works
on any install and the commands that need the `training` extra say so when it is missing.
"""
