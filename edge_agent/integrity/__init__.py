"""Camera integrity: is the picture still usable (not offline, frozen, covered, moved or out of focus)?"""
