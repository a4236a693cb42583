"""Hierarchical configuration: platform -> partner -> organization -> workspace, one JSON document per level."""
