"""Test harness: finds or starts the real parts the tests talk to."""
