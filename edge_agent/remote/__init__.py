"""Remote control from the hub: the live device configuration, snapshots and model updates."""
