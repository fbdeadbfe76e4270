"""Pipelines: run models over whole videos or photos."""
