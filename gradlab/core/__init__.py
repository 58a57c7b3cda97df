"""What every problem shares: dtypes and the tolerance table, limits, precise
arithmetic, provenance and the one verdict engine."""

__all__: list[str] = []
