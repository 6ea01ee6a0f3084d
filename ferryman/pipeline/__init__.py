"""Data paths between endpoints: schema sync now; copier, change-stream merge, applier, verifier
and throttle as the later stages land."""
