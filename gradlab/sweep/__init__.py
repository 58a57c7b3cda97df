"""The sweep engine: a grid of seed-layer cases, its runner and cache, the CSV schema."""

__all__: list[str] = []
