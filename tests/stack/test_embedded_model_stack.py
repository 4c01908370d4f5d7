"""Once on the embedded model: the whole Stack with one compute node running SmolLM2 in its own process,
a private streamed answer through relay, gateway and router, decrypted by ``openpcc.Client``."""

from __future__ import annotations

from pathlib import Path

from openpcc.client import ChatStream, Client
from support.prerequisites import missing
from support.stack import embedded_model_stack


def test_a_private_answer_streams_from_the_embedded_model(tmp_path: Path) -> None:
    from openpcc.services.engines.llama import DEFAULT_MODEL, missing_prerequisite

    absent = missing_prerequisite()
    if absent is not None:
        missing(f"embedded model not installed: looked for {absent}; run `make model`")
    with embedded_model_stack(tmp_path) as running, Client(running.stack.config_path) as client:
        stream = client.chat(
            [{"role": "user", "content": "Name three colours."}], model=DEFAULT_MODEL, stream=True,
            max_tokens=16, temperature=0,
        )
        assert isinstance(stream, ChatStream)
        with stream:
            pieces = list(stream)
        assert len(pieces) > 1, "the answer must arrive token by token"
        assert "".join(pieces).strip()
        assert stream.verification.valid, stream.verification.render()
