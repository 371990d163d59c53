"""Live mode: a talking head driven by streaming speech (causal motion, online blinks, frame sink)."""
