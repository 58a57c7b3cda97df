"""The seed layer: a = W x, u = sqrt(mean(a²) + ε), v = g·a/u + b, L = Σ v²,
with its Kronecker and O(mn) backward passes, bug zoo, longdouble reference and κ."""

__all__: list[str] = []
