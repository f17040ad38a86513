"""Experiments run with the library, each with its driver, README (the report of the run) and figures."""
