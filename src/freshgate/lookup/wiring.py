"""Attach the lookup to a runtime: engine in `rt.extras`, the indexer as a registry listener."""

from __future__ import annotations

from freshgate.lookup.engine import LookupEngine


def wire(rt) -> LookupEngine:
    """Create the lookup engine (nothing loads yet) and listen to registry changes."""
    engine = LookupEngine(rt.settings, rt.engine)
    rt.extras["lookup"] = engine
    # Other domains (conflicts) reach the embedder and index as rt.extras["lookup"].embedder / .index.
    rt.registry_ctx.listeners.append(lambda session, change: engine.indexer(session, change))
    return engine

