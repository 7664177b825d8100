"""Benchmark: rendering the slip PDF — the first render on a fresh font cache, a new document, and warm renders.

Run: python -m tests.benchmarks.slips [REPETITIONS] [PDF_FONT]

Each phase runs in this process against a fresh temporary font cache:
- cold start: as a fresh installation's first slip — `flask init` prepared the fonts (timed too), then a new
  process renders its first document;
- cold, unprepared: nothing cached; builds the fixed regular and bold faces and the document's own face;
- new document: the fixed faces cached, another couple's names (a new document face);
- warm: the same document again (all faces on disk and registered);
- restart: the same cache after the in-process caches are emptied, as a new worker process would find it, and
  another new document.
With PDF_FONT (e.g. /usr/share/fonts/truetype/wqy/wqy-microhei.ttc) the configured font is timed instead.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from services import pdf_fonts, slips
from services.slips import SlipFacts, Spouse

VERIFY_URL = "https://example.gov.cn/slips/verify/0123456789abcdef0123456789abcdef"


def _facts(woman: str, man: str) -> SlipFacts:
    return SlipFacts(title="生育服务登记单", case_number="20261125123456", type_label="一孩登记", parity="第一个孩子",
                     woman=Spouse(woman, "110101199003071524", "汉族"), man=Spouse(man, "110101198805123416", "满族"),
                     office="北京市东城区东华门街道卫生健康办公室", issued_on="2026年11月25日",
                     verification_code="0123456789abcdef0123456789abcdef")


def _time(facts: SlipFacts, setting: str | None, cache: Path) -> float:
    start = time.perf_counter()
    slips.render_pdf(facts, VERIFY_URL, font_setting=setting, cache_dir=cache)
    return time.perf_counter() - start


def _forget_fonts() -> None:
    """Empty the in-process caches, as a new worker process would find them."""
    pdf_fonts._noto_characters.cache_clear()  # noqa: SLF001 - what a fresh process would not have
    pdf_fonts._noto_sc_number.cache_clear()  # noqa: SLF001
    slips._fixed_text.cache_clear()  # noqa: SLF001


def cold_start(setting: str | None) -> None:
    """Time `flask init`'s font preparation, then the first slip of a new process on the prepared cache."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        slips.prepare_fonts(setting, Path(folder))
        print(f"prepare (flask init / app start):  {(time.perf_counter() - start) * 1000:8.0f} ms")
        _forget_fonts()
        first = _time(_facts("欧阳娜娜", "诸葛亮"), setting, Path(folder))
        print(f"cold start, first slip (prepared): {first * 1000:8.0f} ms")
    _forget_fonts()


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    setting = sys.argv[2] if len(sys.argv) > 2 else None
    print(f"font: {setting or 'Noto Sans CJK SC (manimgx-fonts-cjk), subset per document'}")
    cold_start(setting)
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        print(f"cold, unprepared (empty cache):    {_time(_facts('张丽华', '刘强'), setting, cache) * 1000:8.0f} ms")
        print(f"new document (other names):       {_time(_facts('欧阳娜娜', '诸葛亮'), setting, cache) * 1000:8.0f} ms")
        warm = [_time(_facts('张丽华', '刘强'), setting, cache) for _ in range(repetitions)]
        print(f"warm (same document), median of {repetitions}: {statistics.median(warm) * 1000:6.0f} ms "
              f"(min {min(warm) * 1000:.0f}, max {max(warm) * 1000:.0f})")
        _forget_fonts()
        print(f"restart, new names (disk cache):  {_time(_facts('王五', '赵六'), setting, cache) * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
