"""Scoring a probe's cases: greedy decoding through the caches, batching by length, slices, the regular-prompt loss."""
