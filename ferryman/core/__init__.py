"""Engine-neutral types and protocols. Nothing in this package imports a driver or does I/O."""
