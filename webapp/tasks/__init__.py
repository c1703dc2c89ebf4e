"""Tasks: calls, emails and follow-ups for agents about their leads (SPEC §14).

- ``services``: what the API, the pages and the ``create_task`` automation step call (input, titles
  rendered for the lead, create, change, complete, the "my tasks" sections and the badge count).
- ``views``: "My tasks" and the lead page's tasks card; ``demo``: a few tasks for the demo agents.
"""
