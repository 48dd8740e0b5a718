"""Training recipes: one module per ``unimotion train KIND`` (see :mod:`unimotion.cli.train`)."""
