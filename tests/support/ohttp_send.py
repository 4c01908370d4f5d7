"""Sends one plain OHTTP request through a relay and prints what came back, as JSON on one line:

    python -m support.ohttp_send RELAY_URL KEY_CONFIGS_FILE INNER_HOST INNER_PATH BODY_FILE

Run inside a test's network namespace (the client's), where the test process itself cannot reach the
relay. KEY_CONFIGS_FILE holds the gateway's ``application/ohttp-keys`` bytes; the first config is used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from openpcc import ohttp

from . import edge


def main(argv: list[str]) -> int:
    relay_url, keys_file, host, path, body_file = argv[1:6]
    config = ohttp.decode_key_configs(Path(keys_file).read_bytes())[0]
    reply = edge.send_plain(relay_url, config, edge.inner_request(host, path, Path(body_file).read_bytes()))
    content = reply.response.content.decode(errors="replace") if reply.response else ""
    print(json.dumps({"status": reply.status, "content": content}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
