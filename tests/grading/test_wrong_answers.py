"""Plausible wrong answers score under half of their task: a lab's points come from the learner's code.

Each wrong answer below is a lab's solution with one mistake a learner would make (no jitter, `>=` for `>`, a
limiter that reads then writes, a verifier that trusts the token's own `alg` ...). Its files are the ones the
solution notebook's `%%writefile` cells write, with the mistake made in one of them; the graded tests of that
task alone then run against them, exactly as the grader runs them (`grade.run_graded_tests(..., task=...)`).
Each must earn less than half of the task's points. To keep the suite short, the must-pass tests run first and
the run stops as soon as the score is sure to stay under half (counting every test not run as passed).

`test_grading_both_ways.py` proves the other two sides: the solution earns every point, the untouched lab none.
"""
from __future__ import annotations

import ast
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from microcosm import grade
from microcosm.grade.scoring import best_possible

ROOT = grade.repo_root()


def written_files(lab: str) -> dict[str, str]:
    """{file name: source} of every `%%writefile NAME` cell of the lab's solution notebook."""
    notebook = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    files = {}
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith("%%writefile "):
            first, _, rest = source.partition("\n")
            files[first.split()[-1]] = rest
    return files


def body(qualname: str, code: str) -> Callable[[str], str]:
    """A mistake: the body of function `qualname` ("Class.method" or "function"), docstring kept, becomes `code`."""
    def edit(source: str) -> str:
        tree, scope = ast.parse(source), None
        for name in qualname.split("."):
            nodes = (scope or tree).body
            scope = next(n for n in nodes if getattr(n, "name", None) == name)
        first = scope.body[1] if ast.get_docstring(scope) else scope.body[0]
        lines = source.splitlines(keepends=True)
        indent = " " * first.col_offset
        new = textwrap.indent(textwrap.dedent(code).strip() + "\n", indent)
        return "".join(lines[: first.lineno - 1]) + new + "".join(lines[scope.end_lineno:])
    return edit


def edits(*mistakes: Callable[[str], str]) -> Callable[[str], str]:
    """Several changes that make one mistake (moving a line is two)."""
    def edit(source: str) -> str:
        for mistake in mistakes:
            source = mistake(source)
        return source
    return edit


def swap(old: str, new: str) -> Callable[[str], str]:
    """A mistake: the one place where the solution says `old` says `new`."""
    def edit(source: str) -> str:
        assert source.count(old) == 1, f"the solution should contain {old!r} once: the wrong answer is stale"
        return source.replace(old, new)
    return edit


@dataclass
class Wrong:
    lab: str
    task: str
    file: str
    mistake: str
    edit: Callable[[str], str]


REVIEWS_IN_MEMORY = '''
    app = create_service("reviews", config)
    reviews = []

    @app.post("/reviews")
    def add_review():
        body = read_json(product_id=Int(min=1), rating=Int(min=1, max=5), text=Str(max=500))
        review = {"id": len(reviews) + 1, "created_at": time.time(), **body}
        reviews.append(review)
        return review, 201

    @app.get("/products/<int:product_id>/reviews")
    def product_reviews(product_id: int):
        mine = [r for r in reviews if r["product_id"] == product_id]
        average = round(sum(r["rating"] for r in mine) / len(mine), 2) if mine else None
        return {"product_id": product_id, "reviews": mine, "count": len(mine), "average": average}

    return app
'''
READ_THEN_WRITE = '''
    redis.zremrangebyscore(key, "-inf", now - self.window)
    count = redis.zcard(key)
    if count >= self.limit:
        oldest = redis.zrange(key, 0, 0, withscores=True)[0][1]
        return False, 0, min(self.window, oldest + self.window - now)
    redis.zadd(key, {uuid.uuid4().hex: now})
    redis.pexpire(key, int(self.window * 1000) + 1)
    return True, self.limit - count - 1, 0.0
'''
REFRESH_WITHOUT_A_SAFETY_NET = '''
    answer = requests.get(f"{self.registry_url}/services/{self.service}")
    body = answer.json()
    self._instances, self.epoch = [dict(i) for i in body["instances"]], body["epoch"]
    self.stale, self.last_refresh = False, time.time()
    return True
'''
WATCH_THE_CHILDREN = '''
    node = self.node
    if node is None:
        return
    queue = sorted(self.zk.get_children(self.path, watch=self.woken))
    mine = node.rsplit("/", 1)[1]
    if queue and queue[0] == mine:
        stat = self.zk.exists(node)
        with self.lock:
            if self.node == node and stat is not None:
                self.leading = stat.czxid
'''

WRONG_ANSWERS = [
    Wrong("01_microservices", "Task 1 · The `reviews` service", "reviews.py",
          "reviews kept in a Python list, not in the service's database", body("create_app", REVIEWS_IN_MEMORY)),
    Wrong("01_microservices", "Task 1 · The `reviews` service", "reviews.py",
          "the body read with request.get_json(), never checked",
          swap('body = read_json(product_id=Int(min=1), rating=Int(min=1, max=5), text=Str(max=500))',
               'from flask import request; body = request.get_json(force=True)')),
    Wrong("01_microservices", "Task 2 · A retry policy for `orders`", "resilience.py",
          "exponential backoff without jitter: every client waits the same",
          swap("sleep(random.uniform(0, min(max_delay, base_delay * 2 ** n)))",
               "sleep(min(max_delay, base_delay * 2 ** n))")),
    Wrong("01_microservices", "Task 2 · A retry policy for `orders`", "resilience.py",
          "every failed answer retried, 4xx and 500 too",
          swap("if answer.status_code not in RETRY_STATUSES or last_call:",
               "if answer.status_code < 400 or last_call:")),
    Wrong("03_load_balancer", "Task 1 · Least connections", "least_connections.py",
          "always the first backend (the list's order decides)", body("LeastConnections.pick", "return backends[0]")),
    Wrong("03_load_balancer", "Task 1 · Least connections", "least_connections.py",
          "a backend at random, in flight ignored", body("LeastConnections.pick", "return random.choice(backends)")),
    Wrong("03_load_balancer", "Task 2 · Power of two choices", "power_of_two.py",
          "the two drawn with replacement: a backend can be paired with itself",
          swap("a, b = self.random.sample(backends, 2)", "a, b = self.random.choice(backends), self.random.choice(backends)")),
    Wrong("03_load_balancer", "Task 2 · Power of two choices", "power_of_two.py",
          "the least busy of all (least connections under another name)",
          body("PowerOfTwo.pick", "return min(backends, key=lambda b: b.in_flight)")),
    Wrong("04_service_registry", "Task 1 · Heartbeat expiry", "expiry.py", "`>=` instead of `>`: silent for exactly the TTL is overdue",
          swap('now - instance["last_heartbeat"] > instance["ttl"]', 'now - instance["last_heartbeat"] >= instance["ttl"]')),
    Wrong("04_service_registry", "Task 1 · Heartbeat expiry", "expiry.py", "one TTL for everybody (the usual 5 s)",
          swap('> instance["ttl"]', '> 5')),
    Wrong("04_service_registry", "Task 2 · A client-side cache", "cache.py",
          "refresh() with no timeout and no error handling", body("ServiceCache.refresh", REFRESH_WITHOUT_A_SAFETY_NET)),
    Wrong("04_service_registry", "Task 2 · A client-side cache", "cache.py", "refresh() without a timeout",
          swap("timeout=self.timeout)", ")")),
    Wrong("05_api_gateway", "Task 1 · A sliding window limiter", "sliding_window.py",
          "read, decide, then write: three Redis calls, no atomicity", body("SlidingWindow.allow", READ_THEN_WRITE)),
    Wrong("05_api_gateway", "Task 1 · A sliding window limiter", "sliding_window.py", "keys that never expire",
          lambda source: source.replace("redis.call('PEXPIRE', key, math.ceil(window * 1000))", "")),
    Wrong("06_identity", "The task · `verify`, in three parts", "verifier.py",
          "the algorithm never pinned: whatever `alg` the token names goes on to the key",
          swap("if alg != ALGORITHM:", "if False:")),
    Wrong("06_identity", "The task · `verify`, in three parts", "verifier.py", "`exp` never checked",
          swap('if now >= claims["exp"]:', "if False:")),
    Wrong("06_identity", "The task · `verify`, in three parts", "verifier.py", "the audience matched as a substring",
          swap("if audience not in [a for a in audiences if isinstance(a, str)]:", "if audience not in str(aud):")),
    Wrong("07_message_broker", "Task 1 · Apply each event once", "ledger_consumer.py",
          "no dedupe: every delivery records the sale", body("LedgerConsumer.apply_once", """
              with self.db.transaction() as conn:
                  self.record_sale(conn, event)
              return True""")),
    Wrong("07_message_broker", "Task 2 · The consumer loop", "ledger_consumer.py",
          "acknowledged as soon as read (the whole batch), before the side effects", edits(
              swap("        for entry_id, fields in entries:\n",
                   "        if entries:\n            self.r.xack(self.stream, self.group, *[e for e, _ in entries])\n"
                   "        for entry_id, fields in entries:\n"),
              swap("                continue\n            self.r.xack(self.stream, self.group, entry_id)\n            self.last_error",
                   "                continue\n            self.last_error"))),
    Wrong("07_message_broker", "Task 2 · The consumer loop", "ledger_consumer.py",
          "no claim of stale entries: only new ones are read",
          swap("""_, entries, *_ = self.r.xautoclaim(self.stream, self.group, self.name, int(self.claim_idle * 1000),
                                           start_id="0-0", count=50)""", "entries = []")),
    Wrong("08_coordination", "Task 1 · Leader election from primitives", "election.py",
          "every contender watches the leader's node (the herd)",
          swap('self.zk.exists(f"{self.path}/{ahead[-1]}", watch=self.woken)',
               'self.zk.exists(f"{self.path}/{queue[0]}", watch=self.woken)')),
    Wrong("08_coordination", "Task 1 · Leader election from primitives", "election.py",
          "every contender watches the list of contenders (the herd)", body("Election.look", WATCH_THE_CHILDREN)),
    Wrong("08_coordination", "Task 1 · Leader election from primitives", "election.py",
          "the node's sequence number as the token", swap("self.leading = stat.czxid", "self.leading = int(mine[-10:])")),
    Wrong("08_coordination", "Task 1 · Leader election from primitives", "election.py",
          "leave() forgets its node without deleting it",
          body("Election.leave", "with self.lock:\n    self.node, self.leading = None, None")),
    Wrong("08_coordination", "Task 2 · The fence check", "fence.py", "no fencing: every token goes through",
          body("check", "return True")),
    Wrong("08_coordination", "Task 2 · The fence check", "fence.py",
          "`>` for `>=`: the leader's own second write, same token, refused",
          swap("token >= newest", "token > newest")),
    Wrong("08_coordination", "Task 2 · The fence check", "fence.py", "the first write refused (no token seen yet)",
          swap("newest is None or token >= newest", "newest is not None and token >= newest")),
    Wrong("09_clients", "Task 1 · The circuit breaker", "breaker.py", "never half-opens: once open, open for good",
          body("Breaker.allow", "with self.lock:\n    return self.state == CLOSED")),
    Wrong("09_clients", "Task 1 · The circuit breaker", "breaker.py", "opens on the first failure",
          swap("if self.failures >= self.threshold:", "if self.failures >= 1:")),
    Wrong("09_clients", "Task 1 · The circuit breaker", "breaker.py",
          "failures counted in all, not in a row: a success does not start the count again",
          body("Breaker.success", """
              with self.lock:
                  if self.state == HALF_OPEN:
                      self.state, self.probe_at, self.failures = CLOSED, None, 0""")),
    Wrong("09_clients", "Task 1 · The circuit breaker", "breaker.py",
          "half-open lets every request through, not one probe",
          swap("if self.probe_at is not None and now - self.probe_at < self.cool_down:", "if False:")),
    Wrong("09_clients", "Task 2 · Retries: full jitter and a budget", "retries.py",
          "POST counted among the idempotent methods: retried without a key",
          swap('if method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):',
               'if method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST"):')),
    Wrong("09_clients", "Task 2 · Retries: full jitter and a budget", "retries.py",
          "exponential backoff without jitter: every client waits the same",
          swap("return random.uniform(0, ceiling)", "return ceiling")),
    Wrong("09_clients", "Task 2 · Retries: full jitter and a budget", "retries.py", "jittered backoff without a cap",
          swap("ceiling = min(self.cap, self.base * 2 ** (retry - 1))", "ceiling = self.base * 2 ** (retry - 1)")),
    Wrong("09_clients", "Task 2 · Retries: full jitter and a budget", "retries.py",
          "a budget that always says yes", body("Budget.withdraw", "return True")),
    Wrong("10_cdn", "Task 1 · Freshness lifetime and age", "freshness.py",
          "s-maxage ignored: max-age first (a browser's rule, not a shared cache's)",
          swap('for name in ("s-maxage", "max-age"):', 'for name in ("max-age",):')),
    Wrong("10_cdn", "Task 1 · Freshness lifetime and age", "freshness.py",
          "the Age the origin sent ignored: only the Date and the time stored count",
          swap('corrected_age_value = age_value(stored.get("Age")) + response_delay',
               'corrected_age_value = response_delay')),
    Wrong("10_cdn", "Task 1 · Freshness lifetime and age", "freshness.py",
          "a heuristic of the whole time since Last-Modified, not 10% of it",
          swap("max(0.0, date - last_modified) * HEURISTIC_FRACTION", "max(0.0, date - last_modified)")),
    Wrong("10_cdn", "Task 1 · Freshness lifetime and age", "freshness.py",
          "the age does not grow while stored (resident time left out)",
          swap("return corrected_initial_age + resident_time", "return corrected_initial_age")),
    Wrong("10_cdn", "Task 2 · Serve, revalidate or fetch", "freshness.py",
          "never revalidates: anything stored is served",
          body("Freshness.decide", 'return "fetch" if stored is None else "serve"')),
    Wrong("10_cdn", "Task 2 · Serve, revalidate or fetch", "freshness.py",
          "always revalidates: nothing is served from the store",
          body("Freshness.decide", 'return "fetch" if stored is None else "revalidate"')),
    Wrong("10_cdn", "Task 2 · Serve, revalidate or fetch", "freshness.py",
          "max-stale served despite must-revalidate (or proxy-revalidate, s-maxage)",
          swap('if "max-stale" in request_cc and not revalidation_required:', 'if "max-stale" in request_cc:')),
    Wrong("10_cdn", "Task 2 · Serve, revalidate or fetch", "freshness.py",
          "a no-cache answer served from the store while fresh (only the client's no-cache heard)",
          swap('if "no-cache" in stored.cc or "no-cache" in request_cc:', 'if "no-cache" in request_cc:')),
    Wrong("10_cdn", "Task 3 · What a shared cache may store", "storable.py",
          "caches private: one user's answer kept for everybody", swap('if "private" in cc:', "if False:")),
    Wrong("10_cdn", "Task 3 · What a shared cache may store", "storable.py",
          "an answer to a request with Authorization stored like any other",
          swap('if "Authorization" in request_headers and not', "if False and not")),
    Wrong("10_cdn", "Task 3 · What a shared cache may store", "storable.py", "no-store answers stored, and served again",
          swap('if "no-store" in request_cc or "no-store" in cc:', "if False:")),
]


def test_every_lab_has_at_least_two_wrong_answers():
    labs = [w.lab for w in WRONG_ANSWERS]
    assert all(labs.count(lab) >= 2 for lab in grade.graded_labs()), {lab: labs.count(lab) for lab in set(labs)}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("wrong", WRONG_ANSWERS, ids=[f"{w.lab[:2]} {w.mistake}" for w in WRONG_ANSWERS])
def test_a_plausible_wrong_answer_scores_under_half_of_its_task(wrong, tmp_path, monkeypatch):
    files = written_files(wrong.lab)
    assert wrong.file in files, f"the solution of {wrong.lab} writes no {wrong.file}"
    files[wrong.file] = wrong.edit(files[wrong.file])
    assert files[wrong.file] != written_files(wrong.lab)[wrong.file], "the mistake changed nothing"
    compile(files[wrong.file], wrong.file, "exec")
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    monkeypatch.setenv("MICROCOSM_GRADE_UNTIL_UNDER_HALF", "1")  # must-pass tests first; stop once it is sure
    tests = grade.run_graded_tests(wrong.lab, tmp_path, task=wrong.task)["tests"]
    assert tests and {t["task"] for t in tests} == {wrong.task}
    best, total = best_possible(tests), sum(t["points"] for t in tests)
    table = "\n".join(f"  {t['outcome']} {t['earned']}/{t['points']} {t['name']}: {t['message'][:160]}" for t in tests)
    assert 2 * best < total, f"{wrong.mistake}: it may earn {best}/{total} on {wrong.task}\n{table}"
