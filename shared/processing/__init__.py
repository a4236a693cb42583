"""Processing of a job once it is queued: the filters it must pass before transcription."""
