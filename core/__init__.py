"""The domain of LWOO-assistent, shared by both processes: settings, the records store,
verification, mail, masking, formats and the school calendar, the pupil importer, portal
tokens, the callback desk, the answer decision and the glossary.

It imports neither ``actions`` (the action server) nor ``bot`` (the Rasa process and the
command line), nor Rasa itself (import-linter contracts in pyproject.toml). Importing it
is cheap: no module opens a database, a mail session or a file at import.
"""
