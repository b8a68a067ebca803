"""The fast part of the gateway fuzz (the full run with floods and SIGKILLs is ``make fuzz``):
generated hostile requests over a real gRPC channel; every answer keeps the contract."""

import grpc
import pytest
from gateway_fakes import KEYPHRASES
from gateway_harness import gateway_in_thread
from hypothesis import HealthCheck, given, settings

from bench.reliability.cases import cases, expected, grade
from serving.gateway.settings import GatewaySettings

SETTINGS = GatewaySettings()
KNOWN = {category for _, _, category in KEYPHRASES}


@pytest.fixture(scope="module")
def target(hashed_index):
    with gateway_in_thread(hashed_index) as (address, server), \
            grpc.insecure_channel(address) as channel:
        yield channel, server


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=cases(SETTINGS))
def test_every_generated_request_gets_a_defined_answer(target, case):
    channel, _ = target
    try:
        channel.unary_unary(case.method)(case.payload, timeout=case.timeout_s)
        code = "OK"
    except grpc.RpcError as err:
        code = err.code().name
    expectation = expected(case, SETTINGS, KNOWN)
    assert grade(expectation, code) == [], (case.kind, expectation, code, case.payload[:200])


def test_the_gateway_still_serves_after_the_fuzz(target):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel, server = target
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert server.service.admission.in_flight == 0  # every admitted call released its rows
