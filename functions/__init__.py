"""Lambda handlers: each translates its event into calls on ``shared`` and shapes the reply."""
