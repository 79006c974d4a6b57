"""Non-neural reference models scored with the same protocol."""
