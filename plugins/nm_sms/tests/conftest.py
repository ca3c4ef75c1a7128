"""The fake SMS APIs (sms_fake.py) as fixtures; the test modules import sms_fake from this directory."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sms_fake import FakeSms

from nmcore.testing import serving


@pytest.fixture
async def sms() -> AsyncIterator[FakeSms]:
    fake = FakeSms()
    async with serving(fake.app()) as base:
        fake.url = base
        yield fake
