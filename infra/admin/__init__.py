"""Operator command-line tools (run by people with AWS access to the stack, never by API clients)."""
