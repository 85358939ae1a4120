"""The science of Circuit Loupe: plain Python, torch and numpy; no Qt anywhere below here."""
