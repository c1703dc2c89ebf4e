"""``python worker.py``: an RQ worker for all of Leadflow's queues, inside the app context.

It also runs the scheduled-task loop in a thread, so delayed and recurring work fires.
"""
import os
import socket
import sys

from rq import SimpleWorker

from webapp import create_app
from webapp.extensions import db
from webapp.jobs import QUEUES, redis_connection


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
    with app.app_context():
        stop_scheduler = start_scheduler(app, name)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop_scheduler()


def start_scheduler(app, worker_name: str):
    """Scheduled tasks are claimed from the database by a thread of this worker."""
    from webapp.scheduling import start_task_loop

    return start_task_loop(app, worker_name)


if __name__ == "__main__":
    main(burst="--burst" in sys.argv)
