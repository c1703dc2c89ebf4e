# The README's two commands: `make run` and `make test`.
.PHONY: run test setup lint bench

setup:
	./scripts/setup.sh

run: setup
	.venv/bin/flask --app webapp db upgrade
	.venv/bin/flask --app webapp demo seed
	@echo ""
	@echo "  Leadflow is running at http://127.0.0.1:5000"
	@echo "  Sign in as ada@acme-insurance.example.com / demo-pass-123"
	@echo ""
	FLASK_DEBUG=0 .venv/bin/flask --app webapp run --host 127.0.0.1 --port 5000

test: setup
	./scripts/services.sh
	.venv/bin/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check webapp tests worker.py bench
	.venv/bin/ruff format --check webapp tests worker.py bench
