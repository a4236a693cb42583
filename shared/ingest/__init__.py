"""Ingestion of calls from CallRail into jobs: cursors, day counters and idempotent job creation."""
