"""Videos and camera streams: reading and writing files, tracking, sessions, processing."""
