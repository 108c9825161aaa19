"""The shared service base, in process with Flask's test client (flaskr style)."""
import pytest

from microcosm.services.base import Int, Number, Str, create_service, read_json


@pytest.fixture
def app(tmp_path):
    app = create_service("sample", {"data_dir": str(tmp_path), "max_body": 1024})

    @app.post("/things")
    def add_thing():
        return read_json(name=Str(max=10), size=Number(min=0), count=Int(required=False, default=1)), 201

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail that must not leak")

    return app


@pytest.fixture
def client(app):
    return app.test_client()


def test_a_valid_body_comes_back_checked_with_defaults(client):
    answer = client.post("/things", json={"name": "box", "size": 2.5})
    assert answer.status_code == 201 and answer.json == {"name": "box", "size": 2.5, "count": 1}


@pytest.mark.parametrize("body, field, words", [
    ({"size": 1}, "name", "is required"),
    ({"name": "x" * 11, "size": 1}, "name", "at most 10"),
    ({"name": "box", "size": "big"}, "size", "must be a number, got a string"),
    ({"name": "box", "size": None}, "size", "got null"),
    ({"name": "box", "size": 1, "count": 1.0}, "count", "must be an integer"),
    ({"name": "box", "size": 1, "count": False}, "count", "got true/false"),
])
def test_each_wrong_field_is_named(client, body, field, words):
    answer = client.post("/things", json=body)
    assert answer.status_code == 400
    assert answer.json["field"] == field and words in answer.json["message"]


def test_an_unexpected_error_is_a_json_500_without_the_traceback(client):
    answer = client.get("/boom")
    assert answer.status_code == 500 and answer.is_json
    assert "secret detail" not in answer.get_data(as_text=True)
    assert answer.json["request_id"] == answer.headers["X-Request-ID"]


def test_a_body_over_the_limit_is_413(client):
    answer = client.post("/things", data="x" * 2000, content_type="application/json")
    assert answer.status_code == 413 and answer.json["status"] == 413


def test_health_names_the_service(client):
    assert client.get("/health").json == {"status": "ok", "service": "sample"}
