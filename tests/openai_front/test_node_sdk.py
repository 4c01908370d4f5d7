"""The official OpenAI Node.js SDK (npm package ``openai``, installed by ``make node-openai``) through
``openpcc proxy``, answered by the real echo engine in this process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from openpcc.services.engines.echo import EchoEngine
from support.engine_client import AsyncEngineClient
from support.prerequisites import missing
from support.proxy_runner import Running

TEXT = "one two three four five"
SCRIPT = Path(__file__).parent / "node" / "sdk_client.cjs"
NODE_SDK = Path(sys.prefix) / "node" / "node_modules" / "openai"


def node_sdk() -> tuple[str, Path]:
    node = shutil.which("node")
    if node is None:
        missing("node (Node.js) on PATH, for the OpenAI Node.js SDK test")
    if not (NODE_SDK / "package.json").is_file():
        missing(f"the npm package openai in {NODE_SDK} (make node-openai installs it)")
    return node, NODE_SDK


def test_node_sdk_through_the_proxy() -> None:
    node, sdk = node_sdk()
    running = Running(AsyncEngineClient(EchoEngine("echo"), model="echo"))
    try:
        done = subprocess.run([node, str(SCRIPT), str(sdk), running.base_url, "echo", TEXT],
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        running.stop()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "".join(result["deltas"]) == TEXT and len(result["deltas"]) == len(TEXT.split())
    assert result["output_text"] == TEXT
    assert result["models"] == ["echo"]
    assert result["notFound"] == {"status": 404, "code": "model_not_found", "type": "NotFoundError"}
