"""Analytics: pure decisions over tracked detections (one module per analytic)."""
