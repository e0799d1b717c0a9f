"""Native development stack: the real parts aquaflow needs, started without Docker."""
