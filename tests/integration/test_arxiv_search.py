"""The Lagent lesson's ArxivSearch plugin, as the agent worker builds it in the agent env,
searching a local server that answers as arXiv's API does (lagent 0.2.4's own call fails
with the pinned arxiv 4: `Search.results` is gone)."""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from internpipe import envs

pytestmark = pytest.mark.integration
WORKERS = Path(__file__).resolve().parents[2] / "src" / "internpipe" / "workers"
FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <opensearch:totalResults>1</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/2407.20183v1</id>
    <updated>2024-07-29T17:12:40Z</updated>
    <published>2024-07-29T17:12:40Z</published>
    <title>MindSearch: Mimicking Human Minds Elicits Deep AI Searcher</title>
    <summary>A multi-agent framework for web search.</summary>
    <author><name>Zehui Chen</name></author>
    <link href="http://arxiv.org/abs/2407.20183v1" rel="alternate" type="text/html"/>
    <arxiv:primary_category term="cs.CL"/>
    <category term="cs.CL"/>
  </entry>
</feed>
"""


class _Arxiv(http.server.BaseHTTPRequestHandler):
    queries: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Arxiv.queries.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml")
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *args: object) -> None:
        pass


def test_arxiv_search_finds_the_lessons_paper() -> None:
    env = envs.ensure("agent", "cpu")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Arxiv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (f"import sys; sys.path.insert(0, {str(WORKERS)!r})\n"
            "import arxiv, agent_run\n"
            f"arxiv.Client.query_url_format = 'http://127.0.0.1:{server.server_port}/api?{{}}'\n"
            "tool = agent_run.make_tools({'tools': ['ArxivSearch'], 'tool_timeout': 20})[0][0]\n"
            "print(tool.name)\n"
            "print(tool('{\"query\": \"MindSearch\"}', 'get_arxiv_article_information'))\n")
    try:
        done = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True,
                              timeout=120, env=envs.step_environ(env, offline=True))
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ArxivSearch\n")
    assert "Title: MindSearch: Mimicking Human Minds Elicits Deep AI Searcher" in done.stdout
    assert "Authors: Zehui Chen" in done.stdout
    assert any("search_query=MindSearch" in q for q in _Arxiv.queries)
