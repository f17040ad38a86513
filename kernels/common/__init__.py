"""Triton kernels several ops share: the chunk-state recurrence (forward and backward), the output after it,
the chunk gradients of its backward, and the token-by-token recurrent decode kernel."""
