"""``python -m bot review``: what parents asked, for school staff (bot/review/command.py).

``analysis`` turns Rasa's conversation events into the review, ``report`` writes it as
HTML (a Jinja2 template), charts and CSV files, ``command`` is the command line."""

from bot.review.command import review_command

__all__ = ["review_command"]
