"""Circuit Loupe: take a trained vision network apart the way the Distill Circuits thread did."""

__version__ = "0.1.0"
