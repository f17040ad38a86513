"""Do the probes separate architectures the way the literature does? See README.md here."""
