"""Tune function trainables: what one trial does."""
