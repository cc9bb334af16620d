from __future__ import annotations

import json

from vestis.models.composer import composer_beats_sum


def report(tmp_path, composer, summed):
    path = tmp_path / "composer_report.json"
    path.write_text(
        json.dumps(
            {
                "val": {
                    "a": {
                        "composer": {"R@1": composer[0], "R@10": composer[1]},
                        "sum": {"R@1": summed[0], "R@10": summed[1]},
                    }
                }
            }
        )
    )
    return path


def test_composer_is_used_only_when_its_validation_beats_the_sum(tmp_path):
    assert composer_beats_sum(report(tmp_path, (0.3, 0.8), (0.25, 0.7)))
    assert not composer_beats_sum(report(tmp_path, (0.2, 0.69), (0.26, 0.70)))
    assert composer_beats_sum(tmp_path / "missing.json")
