"""Segments: groups of leads defined by rules or by hand (SPEC §5).

- ``rules``: the rule engine (validate, compile to SQL, explain) — pure.
- ``membership``: who is in a segment — set-based refresh, incremental re-check, static add/remove.
- ``services``: what the API and the pages call (save, preview, evaluate, refresh jobs, explain).
- ``task_types``: the scheduled-task types ``batch_operation`` and ``system_maintenance``.
- ``builder``: the visual rule builder's form convention and rows; ``views``: the pages;
  ``panels``: the lead page's card and the dashboard figure; ``demo``: demo segments.
"""
