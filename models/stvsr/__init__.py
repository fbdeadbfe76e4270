"""Continuous space-time video SR: BF-STVSR, its concat-encoding ablation, the upscaler and registry specs."""
