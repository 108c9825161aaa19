"""microcosm.export's own promises: what it writes where, and a clear ExportError for what it cannot export."""
from __future__ import annotations

import subprocess
import sys

import pytest

import microcosm
from microcosm.export import ExportError
from microcosm.system import Component, Topology

SMALL = Topology(Component("redis"), Component("catalog"))


def test_it_writes_each_format_asked_for_and_the_dockerfile(tmp_path):
    written = microcosm.export(SMALL, folder=tmp_path / "out", formats=["kubernetes"])
    assert set(written) == {"dockerfile", "kubernetes"}
    assert not (tmp_path / "out" / "compose.yaml").exists()
    assert sorted(p.name for p in written["kubernetes"]) == ["_launch-secret.yaml", "catalog.yaml", "redis.yaml"]
    written = microcosm.export(SMALL, folder=str(tmp_path / "out"))  # both by default, a str folder, made anew
    assert {p.name for p in written["compose"]} == {"compose.yaml", "launch-secret.env"}
    assert all(p.exists() for paths in written.values() for p in paths)


def test_each_export_makes_a_new_launch_secret_unless_one_is_given(tmp_path):
    microcosm.export(SMALL, folder=tmp_path / "a", formats="compose")
    microcosm.export(SMALL, folder=tmp_path / "b", formats="compose")
    a, b = ((tmp_path / x / "launch-secret.env").read_text() for x in "ab")
    assert a != b and len(a.split("=", 1)[1].strip()) >= 32


def test_a_dict_topology_is_exported_like_up_takes_it(tmp_path):
    written = microcosm.export({"redis": 1, "catalog": 2}, folder=tmp_path, formats=["compose"])
    assert "catalog:" in written["compose"][0].read_text()


@pytest.mark.parametrize("formats, message", [
    (["compose", "helm"], "unknown format 'helm': the formats are compose, kubernetes"),
    ("yaml", "unknown format 'yaml'"),
    ([], "no format asked for"),
    (3, "formats is a list of compose, kubernetes"),
])
def test_an_unknown_format_is_a_clear_error_and_nothing_is_written(tmp_path, formats, message):
    with pytest.raises(ExportError, match=message):
        microcosm.export(SMALL, folder=tmp_path / "out", formats=formats)
    assert not (tmp_path / "out").exists()


def test_a_folder_that_is_a_file_is_a_clear_error(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        microcosm.export(SMALL, folder=a_file)
    assert a_file.read_text() == "mine"
    with pytest.raises(ExportError, match="cannot make the folder"):
        microcosm.export(SMALL, folder=a_file / "inside")


@pytest.mark.parametrize("folder", [None, "", 42])
def test_a_folder_that_is_not_a_path_is_a_clear_error(folder):
    with pytest.raises(ExportError, match="folder is a path"):
        microcosm.export(SMALL, folder=folder)


def test_a_service_from_a_py_file_cannot_be_exported_and_the_error_says_what_to_do(tmp_path):
    service = tmp_path / "reviews.py"
    service.write_text("def create_app(config):\n    pass\n")
    topology = Topology(Component("reviews", str(service)))
    with pytest.raises(ExportError, match="not in the image: make it a module"):
        microcosm.export(topology, folder=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # every file is made before any is written


def test_a_name_that_cannot_be_a_dns_label_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="a DNS label ends with a letter or digit"):
        microcosm.export(Topology(Component("catalog_", "catalog")), folder=tmp_path)
    with pytest.raises(ExportError, match="both 'my-shop' on the network"):
        microcosm.export(Topology(Component("my_shop", "catalog"), Component("my-shop", "catalog")), folder=tmp_path)


def test_a_then_request_other_than_a_put_of_settings_cannot_be_exported(tmp_path):
    topology = Topology(Component("catalog", then=[("POST", "/products", {"name": "x"})]))
    with pytest.raises(ExportError, match="only a PUT of settings can be exported"):
        microcosm.export(topology, folder=tmp_path)


def test_microcosm_export_is_the_function_even_after_its_modules_are_imported():
    code = ("import microcosm.export.compose, microcosm, sys; print(callable(microcosm.export)); "
            "import microcosm as m; print('microcosm.export.kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


def test_importing_microcosm_does_not_load_the_export_s_modules():
    code = "import microcosm, sys; print(sorted(m for m in sys.modules if m.startswith(('microcosm.', 'yaml'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "microcosm.export.plan" not in out and "microcosm.system" not in out and "yaml" not in out
