"""Hub rules (severity, SLA, routing) loaded from rules/hub/*.yaml."""
