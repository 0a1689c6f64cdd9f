"""Camera capture: frame sources (still image, video file, RTSP/HTTP/USB) and one reader thread per camera."""
