"""raynas: neural architecture search on Ray Tune."""
from raynas.settings import SearchSettings

__version__ = "0.1.0"
__all__ = ["SearchSettings", "__version__"]
