"""The change feed: an ordered, durable log of committed changes that every process follows."""
