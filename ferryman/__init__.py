"""ferryman: move and keep in sync live relational data between database servers.

Layers (imports point downward only)::

    cli/, server/       thin front ends (report/: the HTML page of a diff)
    workflow/           named workflows, lifecycle, cutover journal, state store
    pipeline/           copier, change-stream merge, applier, verifier, throttle
    engines/<name>/     one package per engine, registered by URL scheme
    core/               pure types and protocols: no driver imports, no I/O
"""

__version__ = "0.1.0"
