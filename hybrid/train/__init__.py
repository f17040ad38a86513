"""Training a HybridLM: the LightningModule (module), AdamW and its schedules (optim), tokens/s and MFU (throughput)."""
