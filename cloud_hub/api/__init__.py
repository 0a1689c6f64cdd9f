"""HTTP API: dependencies (auth, database) and one router per resource."""
