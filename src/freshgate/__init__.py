"""Freshgate: knowledge-freshness and SOP registry for AI agents."""

__version__ = "0.1.0"
