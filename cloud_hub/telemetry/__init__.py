"""Telemetry rules: sensor readings (water level, cover tilt, lamp current, ...) open and close incidents.

`models` (rule schema), `rules` (loading rules/hub/telemetry.yaml), `evaluator` (pure state machine per series and
rule), `store` (rule state and hub modes in the database), `processor` (the ingest hook that turns readings into
incident events), `watch` (the periodic missing-data sweep).
"""
