"""FrameForge models: networks, the pure-PyTorch ops they share, whole-video/photo pipelines, and one registry.

Import the registry with ``from models import registry``; models are built and their weights loaded lazily on
first use (``registry.get("dis_flow")``).
"""
