"""docs/results/reliability.{json,md}: the figures of one ``make fuzz`` run."""

from __future__ import annotations

import json
from pathlib import Path

TARGETS = {
    "crashes": "0", "hangs": "0", "unknown_or_internal": "0",
    "unavailable_for_client_errors": "0", "health_p99_ms_under_flood": "<= 100",
    "rss_growth_mb": "<= 50", "triton_restart_s": "<= 15", "gateway_restart_s": "<= 15",
}


def _met(key: str, value) -> str:
    if value is None:
        return "no"
    target = TARGETS[key]
    if target.startswith("<="):
        return "yes" if value <= float(target[2:]) else "no"
    return "yes" if value == int(target) else "no"


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "reliability.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "reliability.md").write_text(markdown(result))


def markdown(r: dict) -> str:
    lines = ["# Gateway reliability: hostile input, overload, crashes", "",
             f"Command: `{r['command']}`  ", f"Machine: {r['machine']}  ",
             f"Stack: {r['stack']}", "",
             "| figure | value | target | met |", "|---|---:|---|---|",
             f"| requests | {r['requests']} | >= 10,000 | "
             f"{'yes' if r['requests'] >= 10_000 else 'no'} |"]
    for key in TARGETS:
        lines.append(f"| {key} | {r[key]} | {TARGETS[key]} | {_met(key, r[key])} |")
    fuzz = r["phases"]["fuzz"]
    lines += ["", f"## Fuzz: {fuzz['cases']} calls (hypothesis, seed {fuzz['seed']}), "
              f"{fuzz['concurrency']} at a time, {fuzz['seconds']} s", "",
              f"{fuzz['cases'] - fuzz['retried_shed']} generated cases, then the "
              f"{fuzz['retried_shed']} first valid ones that admission control had shed sent "
              f"again one at a time ({_codes(fuzz['retried_codes'])}).", "",
              "| case kind | cases | status codes |", "|---|---:|---|"]
    for kind, row in sorted(fuzz["by_kind"].items()):
        codes = ", ".join(f"{c} {n}" for c, n in sorted(row["codes"].items()))
        lines.append(f"| {kind} | {row['cases']} | {codes} |")
    lines += ["", f"Oracle mismatches (answer outside the contract for the case): "
              f"{len(fuzz['oracle_mismatches'])}" + (": " + "; ".join(
                  fuzz["oracle_mismatches"][:5]) if fuzz["oracle_mismatches"] else ""), ""]
    flood, big = r["phases"]["flood"], r["phases"]["empty_items"]
    lines += ["## Overload", "",
              f"- Flood: {flood['in_flight']} valid calls kept in flight for {flood['seconds']} s:"
              f" {_codes(flood['codes'])}; health checks (own process, every 20 ms) "
              f"p50 {flood['health']['p50_ms']} ms, p99 {flood['health']['p99_ms']} ms, max "
              f"{flood['health']['max_ms']} ms, answers {flood['health']['answers']}.",
              f"- {big['requests']} BatchRecommend requests of 1.3 million empty items "
              f"(2.6 MB), {big['in_flight']} at a time: {_codes(big['codes'])}; health p99 "
              f"{big['health']['p99_ms']} ms (max {big['health']['max_ms']} ms).",
              f"- Gateway RSS (after a warm-up of 200 generated cases): {r['rss_mb']['before']} MB"
              f" before the fuzz, {r['rss_mb']['after_fuzz']} MB after it, "
              f"{r['rss_mb']['after_flood']} MB after the flood, {r['rss_mb']['after']} MB after "
              "the empty-item requests.", ""]
    lines += ["## Crashes (SIGKILL under load; the stack's supervisor restarts)", "",
              "| killed | first OK call after the kill | supervisor: detected -> ready | "
              "codes during recovery |", "|---|---:|---:|---|"]
    for name in ("triton", "gateway"):
        c = r["phases"]["chaos"][name]
        lines.append(f"| {name} | {c['first_ok_after_kill_s']} s | {c['supervisor_restart_s']} s"
                     f" | {_codes(c['codes_during'])} |")
    soak = r["soak"]
    lines += ["", f"## Soak: {soak['seconds']} s at {soak['qps']} calls/s "
              f"({soak['share_of_capacity']:.0%} of the {soak['capacity_qps']} calls/s measured "
              f"with 2 callers back to back)", "",
              f"- Calls {soak['calls']}, errors {soak['errors']} ({_codes(soak['codes'])}); "
              f"latency p50 {soak['p50_ms']} ms, p99 {soak['p99_ms']} ms.",
              f"- Gateway RSS every {soak['rss_every_s']} s (MB): first {soak['rss_mb'][0]}, "
              f"last {soak['rss_mb'][-1]}, max {max(soak['rss_mb'])}; least-squares slope "
              f"{soak['rss_slope_mb_per_min']} MB/min.", ""]
    if r.get("notes"):
        lines += ["## Notes", "", r["notes"], ""]
    return "\n".join(lines)


def _codes(codes: dict) -> str:
    return ", ".join(f"{c} {n}" for c, n in sorted(codes.items(), key=lambda kv: -kv[1]))
