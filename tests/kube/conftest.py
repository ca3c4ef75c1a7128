"""Fixtures for the Kubernetes tests: a fake API server on loopback and a kubeconfig pointing at it."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_apiserver import FakeApiServer
from kube_helpers import register_channel_kinds


@pytest.fixture
async def apiserver() -> AsyncIterator[FakeApiServer]:
    """An API server serving the installed channels' kinds (without schema validation, as with old CRDs)."""
    server = FakeApiServer(bookmark_interval=0.2)
    register_channel_kinds(server)
    async with server:
        yield server


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    return apiserver.kubeconfig(tmp_path / "kubeconfig")
