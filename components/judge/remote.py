"""Judge through any OpenAI-compatible chat-completions endpoint (vLLM, TGI, NIM, Triton).

Asks for one short greedy answer with ``logprobs``/``top_logprobs``; the first token's top
logprobs give the soft label where the server returns them, else the answer text gives a
one-hot label. The API key is read from the environment variable the config names (never
from a file). Requests run on a bounded thread pool (``max_concurrency``), each with a
timeout; 429, 5xx, connection errors and timeouts are retried with exponential backoff,
other 4xx are not. A request still failing after its retries raises EndpointError: the run
stops, the pairs committed so far stay stored, and a re-run resumes.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from components.judge.backend import JudgeRequest
from components.judge.config import EndpointConfig
from components.judge.reading import SoftLabel, soft_label_from_top_logprobs
from components.judge.rubric import DEFAULT_RUBRIC, RenderLimits, Rubric, chat_messages, rubric_for

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EndpointError(RuntimeError):
    """The endpoint refused a request, or kept failing after every retry."""


class OpenAIJudge:
    def __init__(self, endpoint: EndpointConfig, model_name: str | None = None,
                 limits: RenderLimits | None = None, min_grade_mass: float = 0.05,
                 sleep=time.sleep, rubric: Rubric = DEFAULT_RUBRIC):
        self.endpoint = endpoint
        self.model_name = model_name or f"openai:{endpoint.model}"
        self.limits = limits or RenderLimits()
        self.min_grade_mass = min_grade_mass
        self.rubric = rubric
        self.prompt_version = rubric.version
        self.url = endpoint.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep
        self.retries = 0  # transient failures retried so far (for reports and tests)

    @classmethod
    def from_config(cls, config) -> OpenAIJudge:
        return cls(config.endpoint, config.judge_model, config.limits, config.min_grade_mass,
                   rubric=rubric_for(config.answer_mode, config.layout))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.endpoint.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, request: JudgeRequest) -> bytes:
        return json.dumps({
            "model": self.endpoint.model,
            "messages": chat_messages(request.item, request.keyphrase, self.limits, self.rubric),
            "max_tokens": 4, "temperature": 0.0,
            "logprobs": True, "top_logprobs": self.endpoint.top_logprobs,
        }).encode()

    def _post(self, body: bytes) -> dict:
        """One request with retries on transient failures only."""
        delay = self.endpoint.backoff_s
        for attempt in range(self.endpoint.max_retries + 1):
            req = urllib.request.Request(self.url, data=body, headers=self._headers(),
                                         method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.endpoint.timeout_s) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code not in TRANSIENT_STATUS:
                    detail = exc.read()[:200].decode(errors="replace")
                    raise EndpointError(f"{self.url}: HTTP {exc.code} (not retried): "
                                        f"{detail}") from None
                error = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except json.JSONDecodeError as exc:
                raise EndpointError(f"{self.url}: response is not JSON ({exc})") from None
            if attempt == self.endpoint.max_retries:
                raise EndpointError(f"{self.url}: {error} after "
                                    f"{self.endpoint.max_retries} retries")
            self.retries += 1
            self._sleep(delay)
            delay = min(delay * 2, self.endpoint.backoff_max_s)
        raise AssertionError("unreachable")

    def read_response(self, response: dict) -> SoftLabel:
        """Soft label from a chat-completions response; a malformed one is unreadable."""
        try:
            choice = response["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            return SoftLabel("unreadable", None, json.dumps(response)[:500])
        top: list[tuple[str, float]] = []
        content = ((choice.get("logprobs") or {}).get("content") or [])
        if content:
            first = content[0]
            top = [(t.get("token", ""), float(t.get("logprob", float("-inf"))))
                   for t in first.get("top_logprobs") or []]
            if not top and "token" in first:
                top = [(first["token"], float(first.get("logprob", 0.0)))]
        return soft_label_from_top_logprobs(top, text, self.min_grade_mass, self.rubric.words)

    def judge_one(self, request: JudgeRequest) -> SoftLabel:
        return self.read_response(self._post(self._body(request)))

    def judge(self, requests: Sequence[JudgeRequest]) -> list[SoftLabel]:
        workers = max(1, min(self.endpoint.max_concurrency, len(requests)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.judge_one, requests))
