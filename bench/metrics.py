"""The quality metrics of every benchmark: they live in :mod:`models.metrics` (one module for training and
benchmarks); this name stays for the benchmarks' and tests' imports."""
from models.metrics import frechet_distance, psnr, psnr_y, rgb_to_y, ssim  # noqa: F401
