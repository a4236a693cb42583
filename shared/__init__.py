"""Domain and adapters shared by every Gensail Lambda function.

Nothing in this package knows about Lambda events; handlers in ``functions/`` translate events into calls here.
"""
