"""Loomworks: cross-engagement operator dashboard API."""
