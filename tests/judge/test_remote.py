"""The HTTP backend against a real OpenAI-compatible test server on 127.0.0.1."""

import json
import math
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.data.esci import Item
from components.judge.backend import JudgeRequest
from components.judge.config import EndpointConfig, JudgeConfig
from components.judge.remote import EndpointError, OpenAIJudge
from components.judge.rubric import BINARY, GRADED
from components.judge.rubric import GRADE_WORDS as W


def _completion(text, top=None):
    choice = {"index": 0, "message": {"role": "assistant", "content": text},
              "finish_reason": "stop"}
    if top is not None:
        choice["logprobs"] = {"content": [{"token": top[0][0], "logprob": top[0][1],
                                           "top_logprobs": [{"token": t, "logprob": lp}
                                                            for t, lp in top]}]}
    return {"id": "x", "object": "chat.completion", "choices": [choice]}


class Handler(BaseHTTPRequestHandler):
    hits: Counter = Counter()
    auth: list = []

    def log_message(self, *args):
        pass

    def _send(self, code, payload, headers=()):
        body = json.dumps(payload).encode()
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v1/chat/completions"
        keyphrase = body["messages"][-1]["content"].split('Search query: "')[1].split('"')[0]
        Handler.hits[keyphrase] += 1
        Handler.auth.append(self.headers.get("Authorization"))
        n = Handler.hits[keyphrase]
        if keyphrase == "flaky" and n == 1:
            return self._send(503, {"error": "overloaded"})
        if keyphrase == "busy" and n <= 2:
            return self._send(429, {"error": "rate limited"},
                              [("Retry-After", "0.2")] if n == 1 else [])
        if keyphrase == "slow":
            time.sleep(1.5)
        if keyphrase == "bad":
            return self._send(400, {"error": "bad request"})
        if keyphrase == "garbage":
            return self._send(200, _completion("Sorry, I can't grade that."))
        top = [(W["E"], math.log(0.7)), (W["S"][:3], math.log(0.2)), (W["I"], math.log(0.05))]
        return self._send(200, _completion(W["E"], top))


@pytest.fixture
def server():
    Handler.hits = Counter()
    Handler.auth = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _judge(url, **kw):
    endpoint = EndpointConfig(base_url=url, model="judge", timeout_s=kw.pop("timeout_s", 5.0),
                              max_retries=kw.pop("max_retries", 2), backoff_s=0.05,
                              max_concurrency=4)
    kw.setdefault("rubric", GRADED)
    return OpenAIJudge(endpoint, **kw)


def _req(kp):
    return JudgeRequest(Item(item_id="i1", title="Steel bottle"), kp)


def test_success_reads_top_logprobs_and_sends_key(server, monkeypatch):
    monkeypatch.setenv("KPDISTILL_JUDGE_API_KEY", "s3cret")
    labels = _judge(server).judge([_req("bottle"), _req("flask")])
    assert [lab.status for lab in labels] == ["ok", "ok"]
    assert labels[0].probs["E"] == pytest.approx(0.7 / 0.95)
    assert labels[0].p_relevant == pytest.approx(0.9 / 0.95)
    assert Handler.auth == ["Bearer s3cret"] * 2


def test_binary_rubric_reads_yes_against_no(server):
    [label] = _judge(server, rubric=BINARY).judge([_req("bottle")])
    assert label.probs == pytest.approx({"E": 0.7 / 0.75, "S": 0.0, "C": 0.0, "I": 0.05 / 0.75})
    assert label.grade == "E"


def test_5xx_is_retried_then_succeeds(server):
    judge = _judge(server)
    [label] = judge.judge([_req("flaky")])
    assert label.status == "ok" and Handler.hits["flaky"] == 2 and judge.retries == 1


def test_429_is_retried_after_the_servers_retry_after_then_with_backoff(server):
    waits = []
    judge = _judge(server, sleep=waits.append)
    [label] = judge.judge([_req("busy")])
    assert label.status == "ok" and Handler.hits["busy"] == 3 and judge.retries == 2
    assert waits == [pytest.approx(0.2), pytest.approx(0.1)]  # Retry-After, then 2 x 0.05


def test_timeout_is_retried_then_raises(server):
    judge = _judge(server, timeout_s=0.3, max_retries=1)
    start = time.monotonic()
    with pytest.raises(EndpointError, match="after 1 retries"):
        judge.judge([_req("slow")])
    assert Handler.hits["slow"] == 2 and time.monotonic() - start < 5


def test_400_is_not_retried(server):
    judge = _judge(server)
    with pytest.raises(EndpointError, match="HTTP 400"):
        judge.judge([_req("bad")])
    assert Handler.hits["bad"] == 1 and judge.retries == 0


def test_unreadable_answer_keeps_raw_text(server):
    [label] = _judge(server).judge([_req("garbage")])
    assert label.status == "unreadable" and "Sorry" in label.raw


def test_connection_refused_is_retried_then_raises():
    judge = _judge("http://127.0.0.1:9/v1", max_retries=2)
    with pytest.raises(EndpointError, match="after 2 retries"):
        judge.judge([_req("x")])
    assert judge.retries == 2


def test_config_names_the_judge_by_endpoint_model():
    assert JudgeConfig(backend="openai").judge_model == "openai:judge"
