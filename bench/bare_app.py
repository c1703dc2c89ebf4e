"""The baseline of bench/api.py: a bare Flask app with one POST endpoint that parses JSON and answers 201."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/leads")
def create():
    data = request.get_json(force=True)
    return jsonify({"id": 1, **data}), 201
