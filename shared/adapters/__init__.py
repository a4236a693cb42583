"""The AWS adapters behind the ports of ``shared.ports`` (the handlers in ``functions/`` build and hand them in)."""
