"""launch() from a cell: ready when it returns, clear when it fails, and stop / kill / restart do what they say."""
import textwrap

import pytest

import microcosm
from microcosm.runtime.ports import is_listening


def test_launch_returns_a_ready_service_with_its_own_process(catalog):
    assert catalog.alive and catalog.status == "running"
    assert catalog.get("/health").json() == {"status": "ok", "service": "catalog"}
    assert catalog.url == f"http://127.0.0.1:{catalog.port}"
    assert "serving catalog" in catalog.logs()
    assert catalog.name in repr(microcosm.running())
    assert "<table>" in microcosm.running()._repr_html_()


def test_stop_frees_the_port_and_says_so(launch):
    service = launch("catalog", name="stopping")
    service.stop()
    assert not service.alive and service.status.startswith("stopped")
    assert not is_listening(service.port)


def test_kill_is_a_crash_and_restart_comes_back_on_the_same_port(catalog):
    port = catalog.port
    catalog.kill()
    assert catalog.status == "killed (SIGKILL)"
    catalog.restart()
    assert catalog.port == port and catalog.get("/products/1").status_code == 200


def test_pause_freezes_a_service_until_resume_and_stop_ends_it_even_paused(catalog):
    import requests

    catalog.pause()
    assert catalog.status == "paused" and catalog.alive
    with pytest.raises(requests.Timeout):  # it holds its port, and answers nothing
        requests.get(f"{catalog.url}/health", timeout=0.5)
    catalog.resume()
    assert catalog.status == "running" and catalog.get("/health").status_code == 200
    catalog.pause()
    catalog.stop()
    assert catalog.status.startswith("stopped") and not is_listening(catalog.port)


def test_a_service_that_crashes_at_start_raises_with_exit_code_and_logs(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def create_app(config):\n    raise RuntimeError('the database password is wrong')\n")
    with pytest.raises(microcosm.LaunchError) as error:
        microcosm.launch(str(broken))
    assert error.value.exit_code == 1
    assert "the database password is wrong" in error.value.log_tail
    assert "exited before it was ready" in str(error.value)


def test_a_service_that_never_gets_healthy_times_out_and_is_killed(tmp_path):
    stuck = tmp_path / "stuck.py"
    stuck.write_text(textwrap.dedent("""
        from microcosm.services.base import create_service
        def create_app(config):
            app = create_service("stuck", config)
            app.view_functions["microcosm_infra.health"] = lambda: ({"status": "starting"}, 503)
            return app
    """))
    with pytest.raises(microcosm.LaunchError) as error:
        microcosm.launch(str(stuck), ready_timeout=2)
    assert "not ready after 2 s" in str(error.value)
    assert not microcosm.runtime.process.started("stuck").alive


def test_launching_the_same_name_again_reuses_it_or_replaces_it(launch, catalog):
    assert launch("catalog") is catalog
    replaced = launch("catalog", seed=False)
    assert replaced is not catalog and not catalog.alive and replaced.alive


def test_orders_without_a_catalog_says_what_to_do():
    with pytest.raises(microcosm.LaunchError, match=r"launch\('catalog'\) first"):
        microcosm.launch("orders", name="orders-alone")


def test_a_file_service_is_launched_from_its_path(launch, tmp_path):
    (tmp_path / "hello.py").write_text(textwrap.dedent("""
        from microcosm.services.base import create_service
        def create_app(config):
            app = create_service("hello", config)
            app.get("/hello")(lambda: {"hello": config["who"]})
            return app
    """))
    hello = launch(str(tmp_path / "hello.py"), who="world")
    assert hello.name == "hello" and hello.get("/hello").json() == {"hello": "world"}


def test_link_goes_through_the_jupyter_proxy_on_binder(catalog, monkeypatch):
    assert catalog.link == catalog.url
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert catalog.link == f"/user/ada/proxy/{catalog.port}/"


def test_stop_all_stops_everything_this_kernel_started(launch):
    a, b = launch("catalog", name="a"), launch("catalog", name="b")
    microcosm.stop_all()
    assert not a.alive and not b.alive
    assert "a" not in repr(microcosm.running()).split()


def test_scale_runs_exactly_n_instances_sharing_the_services_data():
    try:
        three = microcosm.scale("catalog", 3)
        assert [c.name for c in three] == ["catalog-1", "catalog-2", "catalog-3"]
        created = three[0].post("/products", json={"name": "Shared", "price_cents": 1}).json()
        assert three[2].get(f"/products/{created['id']}").json()["name"] == "Shared"
        one = microcosm.scale("catalog", 1)
        assert one[0] is three[0] and not three[1].alive and not three[2].alive
        with pytest.raises(ValueError, match="whole number"):
            microcosm.scale("catalog", -1)
    finally:
        microcosm.scale("catalog", 0)


def test_each_service_runs_on_one_core_taking_the_cores_in_turn(launch):
    import os

    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores and Linux's sched_getaffinity")
    first, second = launch("catalog", name="pin-a"), launch("catalog", name="pin-b")
    cores = [os.sched_getaffinity(first.pid), os.sched_getaffinity(second.pid)]
    assert all(len(c) == 1 for c in cores) and cores[0] != cores[1]
