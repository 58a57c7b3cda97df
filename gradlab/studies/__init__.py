"""Studies built on the seed layer: what ε does, and finite differences against step h."""

__all__: list[str] = []
