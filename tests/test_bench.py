"""`frd bench` runs both pipelines on the clip; the fast path names at least as many faces as the reference."""

import json


def test_bench_fast_path_keeps_the_reference_recall(frd, data, tmp_path):
    chart = tmp_path / "stages.png"
    r = frd("bench", data / "video/short_hamilton_clip.mp4", "--enroll", "lin_manuel_miranda",
            data / "video/enroll/lin_manuel_miranda_1.png", "--json", "--chart", chart, timeout=900)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    frd_, ref = out["frd"], out["reference"]
    assert frd_["frames"] == ref["frames"] == 275
    assert ref["named"] >= 100  # HOG + dlib ResNet at its 0.6 tolerance
    assert frd_["named"] >= ref["named"]
    assert frd_["events"] >= 1 and ref["events"] >= 1
    assert set(out["stage_ms_per_frame"]["frd"]) >= {"detect", "track", "embed"}
    assert chart.stat().st_size > 10_000 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
