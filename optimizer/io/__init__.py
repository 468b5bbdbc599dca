"""Bytes in and out: input files read safely, outputs written atomically.

The first stage of the pipeline and the floor of the import graph: :mod:`.files`
(size-capped reads of regular files, atomic writes), :mod:`.documents` (YAML 1.2, TOML
and JSON into plain mappings) and :mod:`.outputs` (where a command may write, checked
before any work). Nothing here knows what a scenario means; :mod:`optimizer.model`
validates what these modules read.
"""
