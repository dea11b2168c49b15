# Installs the skipattn Python package offline:
#   pip install --no-build-isolation ./python   (or: python3 setup.py install)
# No pyproject.toml on purpose: pip then uses the setuptools already
# installed (Debian's python3-setuptools) instead of fetching one.
from setuptools import setup

setup(
    name="skipattn",
    version="0.1.0",
    description="Skip-Softmax attention for PyTorch on skipattn kernel bundles",
    packages=["skipattn"],
    python_requires=">=3.9",
    entry_points={"console_scripts": [
        "skipattn-calibrate=skipattn.calibrate:main"]},
)
