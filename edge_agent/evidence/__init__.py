"""Evidence pictures: faces blurred first, then annotated, JPEG-encoded and hashed."""
