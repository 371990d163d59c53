"""Speech features: one FeatureExtractor protocol, several implementations, per-frame windows."""
