"""MySQL/MariaDB binlog change stream: a pure decoder (:mod:`.decoder`) and its reader
(:mod:`.stream`)."""
