"""Built-in problems: each a forward, its hand-written backward and planted mistakes."""
