"""Automations and journeys: triggers, actions, flow actions, runs executed by workers, the editor (SPEC §7, §15).

- ``triggers``: which lead events start which automations (``match_events``, an event hook).
- ``journey``: where a run goes next in a tree of steps (branch, split, wait_until, exit) — pure.
- ``engine``: runs as rows, created in the transaction of their trigger and executed in batches by
  the job ``execute_runs``, each step's effect once; waits resumed by lead events, goals checked on
  every lead change; ``conditions`` and ``actions`` (one executor per action, flow checks).
- ``versions``: every save records the definition; a run executes its version to its end.
- ``stats``: runs by status, goals, a funnel per step; ``charts`` draws them.
- ``task_types``: the scheduled-task types ``delayed_automation`` and ``recurring_campaign``.
- ``services``: validation and saving (API and pages), the tree's editing; ``dry_run``: what a run would do.
- ``views``/``forms``/``editor_view``: the journey editor; ``panels``: the lead, campaign and dashboard parts; ``demo``.
"""
