"""The two-tower model and its sampled-softmax loss."""
