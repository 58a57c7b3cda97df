"""Built-in problems: each a forward, its hand-written backward and planted mistakes.

``PROBLEMS`` (name → ``registry.Problem``, from ``library``) is loaded on first
use, so importing the seed package does not load every problem.
"""

__all__: list[str] = []


def __getattr__(name: str):
    if name == "PROBLEMS":
        from gradlab.problems.library import PROBLEMS
        return PROBLEMS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
