"""Licence plates on the edge: LPD-YuNet corners (detector), perspective crop (crop), OCR (reader), and the
step that adds a plate to a parking event or blurs plates in its evidence picture (recognizer)."""
