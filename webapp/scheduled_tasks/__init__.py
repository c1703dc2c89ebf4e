"""Scheduled tasks: durable delayed, recurring and batch work (SPEC §8).

- ``definitions``: validate, create, change, cancel, retry and purge tasks (the caller commits).
- ``execution``: claim (FOR UPDATE SKIP LOCKED), run, retry with backoff, the worker loop.
- ``recurrence``: ``every N minutes|hours|days`` and cron.
- ``views``/``forms``: the pages; the API is ``webapp.api.scheduled_tasks``.

The task types themselves belong to the features that own the work (``segments.task_types``,
``automations.task_types``); ``webapp.features`` lists them.
"""
