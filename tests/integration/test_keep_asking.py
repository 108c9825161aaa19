"""microcosm.load.background.keep_asking: steady requests from a thread while a cell does something else."""
import time
import uuid

from microcosm.load.background import keep_asking
from microcosm.testing import wait_until


def test_answers_are_recorded_in_order_and_stop_when_the_block_ends(launch):
    tag = uuid.uuid4().hex[:6]
    catalog = launch("catalog", f"catalog-{tag}", traffic=False)
    lb = launch("balancer", f"lb-{tag}", upstream="catalog", backends=[{"url": catalog.url, "id": "only"}],
                traffic=False)
    with keep_asking(lb, "/products/1") as answers:
        assert wait_until(lambda: len(answers) >= 5)
        catalog.kill()  # what a cell does meanwhile: now the answers are failures
        assert wait_until(lambda: any(a.status != 200 for a in answers))
    count = len(answers)
    time.sleep(0.2)
    assert len(answers) == count  # the thread stopped with the block
    assert [a.at for a in answers] == sorted(a.at for a in answers)
    assert answers[0].status == 200 and answers[0].backend == "only"
    assert answers[-1].status in (0, 502, 503)  # the balancer's own answer: no backend left


def test_a_request_that_gets_no_answer_is_recorded_as_status_0(launch):
    catalog = launch("catalog", f"catalog-{uuid.uuid4().hex[:6]}", traffic=False)
    catalog.kill()
    with keep_asking(catalog, "/products/1") as answers:
        assert wait_until(lambda: len(answers) >= 2)
    assert {a.status for a in answers} == {0} and {a.backend for a in answers} == {None}
