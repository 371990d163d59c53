"""Training core: one LightningModule base and one fit() used by every model."""
