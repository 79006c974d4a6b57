"""Negative samplers: one small module each, one interface (``base.Sampler``)."""
