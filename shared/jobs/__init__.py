"""Jobs: the unit of work that carries one call through the pipeline."""
