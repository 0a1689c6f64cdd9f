"""The hub's own periodic jobs (rollup refresh, retention), run by every replica, each job by one at a time."""
