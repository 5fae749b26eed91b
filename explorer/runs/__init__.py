"""Run persistence (no Qt): a run folder's files and their schema, the weights of every epoch for
replay, and the numeric options every saved setting is checked against.

- :mod:`explorer.runs.store`: :class:`~explorer.runs.store.Run`, saved to and loaded from a folder
- :mod:`explorer.runs.folder`: complete versions of a folder and one atomic switch
- :mod:`explorer.runs.schema`: the strict schema of config.json and state.json
- :mod:`explorer.runs.epochs`: the weights at the end of each epoch, under a size cap
- :mod:`explorer.runs.options`: the numeric options and their ranges (command line and saved runs)
"""
