"""Event quality on labelled footage: score the events the agent would publish against labelled stays."""
