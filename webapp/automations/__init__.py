"""Automations: triggers, actions, runs executed by workers, and the step editor (SPEC §7).

- ``triggers``: which lead events start which automations (``match_events``, an event hook).
- ``engine``: runs as rows, created in the transaction of their trigger and executed by the job
  ``execute_runs``, each step's effect once; ``conditions`` and ``actions`` (one executor per action).
- ``task_types``: the scheduled-task types ``delayed_automation`` and ``recurring_campaign``.
- ``services``: validation and saving (API and pages); ``dry_run``: what a run would do.
- ``views``/``forms``: the step editor; ``panels``: the lead, campaign and dashboard parts; ``demo``.
"""
