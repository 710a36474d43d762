"""The score table (pure) and the static reading of OpenCompass's dataset configs."""

from __future__ import annotations

import json
from pathlib import Path

from internpipe import scores
from internpipe.stages.evaluate import datasets as ocdatasets

SUMMARY = [["dataset", "version", "metric", "mode", "base", "tuned"],
           ["qa", "359d58", "rouge1", "gen", "10.00", "42.50"],
           ["mcq", "d890be", "accuracy", "gen", "50.00", "-"],
           []]


def test_table_from_summary_with_deltas_and_holes(tmp_path: Path) -> None:
    table = scores.from_summary(SUMMARY, ["base", "tuned"])
    assert table.datasets == ["qa", "mcq"]
    assert table.rows[0].scores == {"base": 10.0, "tuned": 42.5}
    assert table.rows[0].delta("tuned", "base") == 32.5
    assert table.missing() == ["tuned/mcq accuracy"]
    data = table.as_json()
    assert data["base"] == "base" and data["rows"][0]["deltas"] == {"tuned": 32.5}
    assert data["rows"][1]["deltas"] == {"tuned": None}
    assert scores.from_json(json.loads(json.dumps(data))).rows == table.rows
    scores.write(table, tmp_path / "s.json", tmp_path / "s.csv")
    assert (tmp_path / "s.csv").read_text().splitlines() == [
        "dataset,metric,mode,base,tuned,tuned - base", "qa,rouge1,gen,10.0,42.5,32.5",
        "mcq,accuracy,gen,50.0,,"]


def test_a_model_missing_from_the_summary_is_a_hole() -> None:
    table = scores.from_summary(SUMMARY, ["base", "other"])
    assert table.missing() == ["other/qa rouge1", "other/mcq accuracy"]


def test_not_a_summary() -> None:
    import pytest

    with pytest.raises(ValueError):
        scores.from_summary([["a", "b"]], ["m"])


def _fake_package(root: Path) -> Path:
    pkg = root / "lib" / "python3.11" / "site-packages" / "opencompass"
    ds = pkg / "configs" / "datasets" / "toy"
    ds.mkdir(parents=True)
    (ds / "toy_gen.py").write_text(
        "from mmengine.config import read_base\nwith read_base():\n"
        "    from .toy_gen_abc import toy_datasets  # noqa\n")
    (ds / "toy_gen_abc.py").write_text(
        "from opencompass.datasets import ToyDataset\n"
        "toy_datasets = [dict(abbr='toy', type=ToyDataset, path='opencompass/toy'),\n"
        "                {'abbr': 'toy2', 'path': '/abs/toy2'}]\n")
    (pkg / "utils").mkdir()
    (pkg / "utils" / "datasets_info.py").write_text(
        "DATASETS_MAPPING = {'opencompass/toy': {'ms_id': None, 'hf_id': None,"
        " 'local': './data/toy/'}}\n"
        "DATASETS_URL = {'/toy/': {'url': 'http://example.invalid/toy.zip', 'md5': 'x'}}\n")
    return pkg


def test_builtin_configs_are_read_from_the_package_files(tmp_path: Path) -> None:
    pkg = _fake_package(tmp_path / "env")
    assert ocdatasets.package_dir(tmp_path / "env" / "bin" / "python") == pkg
    config = ocdatasets.find_config(pkg, "toy_gen")
    assert config is not None and ocdatasets.find_config(pkg, "nope") is None
    assert ocdatasets.module_name(pkg, config) == "opencompass.configs.datasets.toy.toy_gen"
    assert ocdatasets.dataset_lists(config) == ["toy_datasets"]
    assert sorted(ocdatasets.data_paths(config, pkg)) == ["/abs/toy2", "opencompass/toy"]
    missing = sorted(ocdatasets.missing_data(pkg, config, tmp_path / "cache"),
                     key=lambda m: m.path)
    assert [(m.path, m.expected, m.url) for m in missing] == [
        ("/abs/toy2", Path("/abs/toy2"), None),
        ("opencompass/toy", tmp_path / "cache" / "data" / "toy",
         "http://example.invalid/toy.zip")]
    (tmp_path / "cache" / "data" / "toy").mkdir(parents=True)
    assert [m.path for m in ocdatasets.missing_data(pkg, config, tmp_path / "cache")] == \
        ["/abs/toy2"]
