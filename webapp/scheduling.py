"""Where the scheduled-task loop runs: a thread of each worker, or of the embedded web process."""
import threading


def start_task_loop(app, worker_id: str):
    """Start claiming due scheduled tasks in a daemon thread; returns a function that stops it."""
    stop = threading.Event()
    try:
        from webapp.scheduled_tasks.engine import run_worker_loop
    except ImportError:  # scheduled tasks not installed yet
        return stop.set

    def loop():
        with app.app_context():
            run_worker_loop(worker_id, stop)

    threading.Thread(target=loop, name="leadflow-scheduler", daemon=True).start()
    return stop.set
