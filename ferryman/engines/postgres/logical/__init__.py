"""PostgreSQL logical replication: the pure pgoutput decoder and the stream that feeds it.

:mod:`.pgoutput` decodes bytes into values (no I/O); :mod:`.stream` creates and drops
publications and slots, reads a slot with psycopg2's replication protocol, groups the decoded
changes into transactions and sends feedback only when the caller confirms a position.
"""
