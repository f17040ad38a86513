"""Helpers of the kernels: L2 norm, packed sequences (padded and chunk-aligned), chunking, log-space decay, the
float16 walk scale, Triton support, the runners around the cores, and argument validation."""
