"""Regenerate the README's screenshots of the default email: `python docs/screenshots.py` (needs chromium)."""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmcore.render import SAMPLE, DefaultRenderer  # noqa: E402
from nmcore.templatechoice import TemplateSettings  # noqa: E402
from tests.chromium import screenshot  # noqa: E402

SIZE = (390, 760)


def main() -> None:
    for language, name in (("English", "email-en.png"), ("zh-cn", "email-zh-cn.png")):
        html = DefaultRenderer(settings=TemplateSettings(language=language)).render(SAMPLE).html
        with tempfile.TemporaryDirectory() as work:
            shot = screenshot(html, ROOT / "docs" / name, Path(work), size=SIZE)
        print(f"docs/{name}: {len(shot):,} bytes")


if __name__ == "__main__":
    main()
