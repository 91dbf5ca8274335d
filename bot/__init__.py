"""Runtime glue for LWOO-assistent: channels, the Dutch spaCy provider, the web widget,
settings and the ``python -m bot`` commands.

Importing this package is cheap: nothing here imports Rasa or opens a database.
"""
