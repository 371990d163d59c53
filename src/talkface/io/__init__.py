"""Media in and out: video/audio decoding, images, mp4 writing, atomic file writes."""
