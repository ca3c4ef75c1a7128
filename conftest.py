"""Fixtures every test suite in this checkout shares: the core's, each plugin's, the Kubernetes source's."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: nmcore runs on asyncio (uvicorn, kubernetes-asyncio, psycopg), and anyio would otherwise
    parametrize every async test over each backend installed."""
    return "asyncio"
