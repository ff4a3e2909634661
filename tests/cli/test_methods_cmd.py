"""``pansharpen methods`` and ``pansharpen sensors``."""
from __future__ import annotations

from pansharpen.cli import main
from pansharpen.protocol.sensors import catalogue


def test_sensors_lists_the_catalogue_with_fallbacks_marked(capsys):
    assert main(["sensors"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln and not ln.startswith(" ")]
    assert [ln.split()[0] for ln in lines] == [s.name for s in catalogue()]
    wv3 = next(ln for ln in lines if ln.startswith("WV3 "))
    assert "0.325, 0.355" in wv3 and "PAN 0.14" in wv3 and "fallback" not in wv3
    l8 = next(ln for ln in lines if ln.startswith("L8 "))
    assert "ratio 2" in l8 and "16 bits" in l8 and "fallback" in l8
    assert "PHR1A" in out and "LC08" in out


def test_methods_lists_the_default(capsys):
    assert main(["methods"]) == 0
    assert "mtf-glp-fs" in capsys.readouterr().out
