"""Edge pipeline benchmark (issue 3, Performance): bare model, whole pipeline and the Ultralytics peer, one run."""
