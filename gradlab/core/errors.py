"""The one exception type gradlab raises for bad input."""


class GradlabError(ValueError):
    """Bad input: the message names the parameter, the limit and what came back."""
