"""Calibration against the literature: small, fast settings whose published outcome our models must reproduce."""
