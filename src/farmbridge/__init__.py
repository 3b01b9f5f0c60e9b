"""Farm Bridge: the Universal Bridge of a smart-farm IoT platform and its real-time Web Admin."""

__version__ = "0.1.0"
