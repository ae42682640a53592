"""Adapters: the production and offline implementations of the ports."""
