"""Requeue batches: a server-side, throttled, cancellable bulk requeue of a tenant's skipped jobs."""
