"""The server's API pages (/docs, /redoc) load nothing from the internet: on an air-gapped
network they show the API, with scripts and styles the server itself serves."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.server.inprocess import served

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_pages_load_only_what_the_server_serves(tmp_path: Path, page: str) -> None:
    with served(tmp_path, auth=True) as (url, _), httpx.Client(base_url=url) as client:
        html = client.get(page)
        assert html.status_code == 200
        assets = [a or b for a, b in ASSET.findall(html.text)]
        assert any(a.endswith(".js") for a in assets), html.text
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
            assert loaded.content, asset
        assert "cdn" not in html.text.lower()
