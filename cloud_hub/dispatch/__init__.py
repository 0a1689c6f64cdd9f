"""Dispatch: which grid a place lies in and who is on duty there."""
