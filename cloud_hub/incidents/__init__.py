"""Incidents: events of one ongoing situation merged into one record, with a work order."""
