"""Every real-server and API-ref sample goes through the codecs; broken copies are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from imgcompat import InvalidRecord, from_v1_json, from_v2, to_seam_dict, to_v2
from imgcompat.core.discovery import choose_version
from imgcompat.core.seam import from_seam_dict, from_v1_json_list, from_v2_list

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
REAL = sorted((SAMPLES / "glance-v2-real").glob("*.json"))


def _body(path: Path) -> Any:
    return json.loads(path.read_text()).get("body")


def _entities() -> list[Path]:
    return [p for p in REAL if isinstance(_body(p), dict) and "status" in _body(p)
            and "id" in _body(p)]


def _lists() -> list[Path]:
    return [p for p in REAL if isinstance(_body(p), dict) and "images" in _body(p)]


def test_there_are_samples() -> None:
    assert len(_entities()) >= 5
    assert len(_lists()) >= 4


@pytest.mark.parametrize("path", _entities(), ids=lambda p: p.name)
def test_real_entities_parse_and_survive_the_seam(path: Path) -> None:
    image = from_v2(_body(path))
    assert image.id == _body(path)["id"]
    assert from_seam_dict(to_seam_dict(image, include_locations=True)) == image
    body = to_v2(image).value
    for key, value in _body(path).items():
        if key in image.properties and key in body:
            assert body[key] == value or key == "block_device_mapping"


@pytest.mark.parametrize("path", _lists(), ids=lambda p: p.name)
def test_real_lists_parse(path: Path) -> None:
    assert len(from_v2_list(_body(path))) == len(_body(path)["images"])


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(size="5"), "size"),
        (lambda d: d.update(min_ram=-1), "min_ram"),
        (lambda d: d.update(os_distro=1), "os_distro"),
        (lambda d: d.update(protected=None), "protected"),
        (lambda d: d.update(tags=None), "tags"),
        (lambda d: d.update(updated_at="2026-11-24 17:07"), "updated_at"),
        (lambda d: d.pop("id"), "id"),
    ],
)
def test_broken_real_entity_is_refused(mutate: Any, field: str) -> None:
    doc = copy.deepcopy(_body(SAMPLES / "glance-v2-real/image-show-active.json"))
    mutate(doc)
    with pytest.raises(InvalidRecord) as info:
        from_v2(doc)
    assert info.value.field == field


def test_broken_list_names_the_item() -> None:
    doc = copy.deepcopy(_body(SAMPLES / "glance-v2-real/images-list-sort.json"))
    doc["images"][1]["size"] = "big"
    with pytest.raises(InvalidRecord) as info:
        from_v2_list(doc)
    assert info.value.field == "images/1/size"


def test_versions_sample() -> None:
    assert choose_version(_body(SAMPLES / "glance-v2-real/versions.json")).minor == 17


@pytest.mark.parametrize("name", ["image-update-response.json",
                                  "images-create-reserve-response.json",
                                  "images-create-with-data-response.json"])
def test_v1_api_ref_images(name: str) -> None:
    doc = json.loads((SAMPLES / "glance-api-ref/v1" / name).read_text())
    assert from_v1_json(doc).id == doc["image"]["id"]


def test_v1_api_ref_list_with_the_elision_is_refused_without_it_parsed() -> None:
    doc = json.loads((SAMPLES / "glance-api-ref/v1/images-list-details-response.json")
                     .read_text())
    with pytest.raises(InvalidRecord):
        from_v1_json_list(doc)
    doc["images"] = [i for i in doc["images"] if "..." not in i]
    assert len(from_v1_json_list(doc)) == 1
