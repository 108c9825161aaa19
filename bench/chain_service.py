"""A service that forwards `GET /chain` to the next one (if it has one): three of them make a three-hop chain."""
from microcosm.services.base import call, create_service


def create_app(config):
    app = create_service("chain", config)
    next_url = config.get("next_url")

    @app.get("/chain")
    def chain():
        if not next_url:
            return {"hops": 1}
        answer = call("GET", f"{next_url}/chain", upstream="next")
        return {"hops": answer.json()["hops"] + 1}, answer.status_code

    return app
