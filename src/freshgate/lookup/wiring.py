"""Attach the lookup to a runtime: engine in `rt.extras`, the indexer as a registry listener."""

from __future__ import annotations

from typing import Callable

from freshgate.lookup.engine import LookupEngine


def wire(rt) -> LookupEngine:
    """Create the lookup engine (nothing loads yet) and listen to registry changes."""
    engine = LookupEngine(rt.settings, rt.engine)
    rt.extras["lookup"] = engine
    rt.on_close.append(engine.close)  # queued receipts are written before the engine is disposed
    # Other domains (conflicts) reach the embedder and index as rt.extras["lookup"].embedder / .index.
    rt.registry_ctx.listeners.append(lambda session, change: engine.indexer(session, change))
    return engine



def follow(rt) -> Callable[[], None]:
    """Follow the change feed in this (serving) process; returns the function that stops it."""
    from freshgate.feed.tailer import FeedFollower

    engine: LookupEngine | None = rt.extras.get("lookup")
    if engine is None or not rt.settings.feed.enabled:
        return lambda: None
    current = rt.extras.get("feed")
    if current is not None and current.following:
        return lambda: None
    indexer = engine.indexer
    follower = FeedFollower(
        rt.engine, lambda changes: indexer.apply_feed(rt.engine, changes),
        interval=rt.settings.feed.poll_interval, listen=rt.settings.feed.listen,
        watermark=lambda: indexer.watermark if indexer.index.ready else None,
        set_watermark=lambda wm: setattr(indexer, "watermark", wm),
        on_gap=lambda: indexer.resync(rt.engine))
    rt.extras["feed"] = follower
    follower.start()

    def stop() -> None:
        follower.stop()
        indexer.save_snapshot(rt.engine)  # the next start loads it and replays only what came after

    return stop
