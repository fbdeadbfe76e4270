"""The pre-cleaner of compressed low-resolution frames and the pipelines that run it before an upscaler."""
