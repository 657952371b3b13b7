"""Runnable node programs and example handlers."""
