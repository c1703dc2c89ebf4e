"""``python worker.py``: an RQ worker for all of Leadflow's queues, inside the app context.

It also runs, in threads, the scheduled-task loop (delayed and recurring work fires) and the sweeper
that requeues work whose job was lost.
"""

import os
import socket
import sys

from rq import SimpleWorker

from webapp import create_app
from webapp.extensions import db
from webapp.jobs import QUEUES, redis_connection
from webapp.jobs.loops import start_task_loop


class AppWorker(SimpleWorker):
    """Runs each job inside the app context and leaves no database session behind."""

    app = None

    def perform_job(self, job, queue):
        with self.app.app_context():
            try:
                return super().perform_job(job, queue)
            finally:
                db.session.remove()


def main(burst: bool = False) -> None:
    app = create_app()
    if not app.config.get("REDIS_URL"):
        sys.exit("REDIS_URL is not set: without Redis, jobs run inside the web process.")
    AppWorker.app = app
    name = f"leadflow-{socket.gethostname()}-{os.getpid()}"
    worker = AppWorker(list(QUEUES), connection=redis_connection(app), name=name)
    stop_scheduler = start_task_loop(app, name)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop_scheduler()


if __name__ == "__main__":
    main(burst="--burst" in sys.argv)
