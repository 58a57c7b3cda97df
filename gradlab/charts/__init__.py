"""Pure Altair chart builders: a frame or tensor in, an ``alt.Chart`` out.

The dashboard renders them; a notebook can too. Every error axis is
logarithmic and every dtype keeps one colour (``style.DTYPE_COLORS``).
"""

__all__: list[str] = []
