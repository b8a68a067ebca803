"""Judge through any OpenAI-compatible chat-completions endpoint (vLLM, TGI, NIM, Triton).

Asks for one short greedy answer with ``logprobs``/``top_logprobs``; the first token's top
logprobs give the soft label where the server returns them, else the answer text gives a
one-hot label. The API key is read from the environment variable the config names (never
from a file). Requests run on a bounded thread pool (``max_concurrency``), each with a
timeout (``requests``, one pooled session per worker thread); 429, 5xx, connection errors and
timeouts are retried by ``tenacity`` with exponential backoff (or the server's Retry-After),
other 4xx are not. A request still failing after its retries raises EndpointError: the run
stops, the pairs committed so far stay stored, and a re-run resumes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from components.judge.backend import JudgeRequest
from components.judge.config import EndpointConfig
from components.judge.reading import SoftLabel, soft_label_from_top_logprobs
from components.judge.rubric import DEFAULT_RUBRIC, RenderLimits, Rubric, chat_messages, rubric_for

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EndpointError(RuntimeError):
    """The endpoint refused a request, or kept failing after every retry."""


class TransientError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's Retry-After, if any."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


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
        self._local = threading.local()  # one pooled session per worker thread
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

    def _body(self, request: JudgeRequest) -> dict:
        return {
            "model": self.endpoint.model,
            "messages": chat_messages(request.item, request.keyphrase, self.limits, self.rubric),
            "max_tokens": 4, "temperature": 0.0,
            "logprobs": True, "top_logprobs": self.endpoint.top_logprobs,
        }

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _post_once(self, body: dict) -> dict:
        """One request: the JSON answer; TransientError for what is worth retrying."""
        try:
            resp = self._session().post(self.url, json=body, headers=self._headers(),
                                        timeout=self.endpoint.timeout_s)
        except requests.Timeout as exc:
            raise TransientError(f"timeout: {exc}") from None
        except requests.ConnectionError as exc:
            raise TransientError(f"ConnectionError: {exc}") from None
        if resp.status_code in TRANSIENT_STATUS:
            raise TransientError(f"HTTP {resp.status_code}", _retry_after(resp))
        if resp.status_code >= 400:
            raise EndpointError(f"{self.url}: HTTP {resp.status_code} (not retried): "
                                f"{resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise EndpointError(f"{self.url}: response is not JSON ({exc})") from None

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff from ``backoff_s``, or the server's Retry-After, capped."""
        exc = state.outcome.exception() if state.outcome else None
        backoff = self.endpoint.backoff_s * 2 ** (state.attempt_number - 1)
        retry_after = getattr(exc, "retry_after", None)
        return min(retry_after if retry_after is not None else backoff,
                   self.endpoint.backoff_max_s)

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1

    def _post(self, body: dict) -> dict:
        """One request with retries on transient failures only (tenacity)."""
        retrying = Retrying(stop=stop_after_attempt(self.endpoint.max_retries + 1),
                            retry=retry_if_exception_type(TransientError), wait=self._wait,
                            sleep=self._sleep, before_sleep=self._count_retry, reraise=True)
        try:
            return retrying(self._post_once, body)
        except TransientError as exc:
            raise EndpointError(f"{self.url}: {exc} after {self.endpoint.max_retries} "
                                "retries") from None

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


def _retry_after(resp: requests.Response) -> float | None:
    """Retry-After in seconds when the server gave it as a number."""
    try:
        return max(float(resp.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None
