"""`workbench agent` end to end on the CPU: a model command and a loopback chat-completions
server answer with candidate files (correct, numerically wrong, breaking an output rule, not
compiling, not parsing, no code at all); each is checked in a worker process in Triton's
interpreter, the rules' proposals are measured from a run recorded on the H200, and the run
then replays from its record without the model."""
import dataclasses
import http.server
import json
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from workbench import paths, record, registry
from workbench.llm import agent, models
from workbench.present import report

FIXTURES = Path(__file__).parent / "fixtures"
AGENT = FIXTURES / "agent"
DIRECT = (FIXTURES / "candidates" / "direct.py").read_text()   # a correct candidate, with padding and bias
# The model's answers, in the order it gives them: direct.py with one edit each (or prose).
EDITS = {
    "1_correct.py": ("triton.cdiv(cout, 16)", "triton.cdiv(cout, 32)", "BLOCK_CO=16", "BLOCK_CO=32"),
    "2_wrong.py": ("k * dilation - padding", "k - padding"),                  # ignores the dilation
    "3_rule.py": ("return conv1d_direct(x, c.weight, c.bias, c.stride[0], c.padding[0], c.dilation[0])\n",
                  "return conv1d_direct(x, c.weight, c.bias, c.stride[0], c.padding[0], c.dilation[0])\n\n\n"
                  "if __name__ == '__main__':\n    print(ModelNew(4, 16, 3)(torch.randn(2, 4, 40)).shape)\n"),
    "4_compile.py": ("triton.cdiv(l_out, 32)", "triton.cdiv(l_out, 33)", "BLOCK_L=32)", "BLOCK_L=33)"),   # arange 33
    "5_syntax.py": ("class ModelNew(nn.Module):", "class ModelNew(nn.Module)"),
}
PROSE = "I would raise num_stages to 3; the memory stalls say the loads are not hidden. (No code this time.)\n"
MID_ALL = "20261125-010149-profile-memory-mid"   # every memory-stage config on mid, measured on the H200
SMALL = ("edge-cin1", "edge-padding", "edge-footprint-exact")
SEED1 = registry.parse_variant("implicit_gemm:seed1")
FASTER_SEED1 = SEED1.with_changes({"num_stages": 1})   # the one faster neighbour MID_ALL recorded


def invoke(*args):
    from workbench.cli import main
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def edited(answer_file: str) -> str:
    source = DIRECT
    edit = EDITS[answer_file]
    for old, new in zip(edit[::2], edit[1::2]):
        assert old in source
        source = source.replace(old, new)
    return source


def name_of(answer_file: str) -> str:
    return agent.candidate_name(edited(answer_file))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Runs, candidates and reports in a scratch folder; a suite of three edge problems; the
    recorded H200 runs to take measurements from. Shared by the module's runs."""
    root = tmp_path_factory.mktemp("agent")
    suite = yaml.safe_load(paths.PROBLEMS_FILE.read_text())
    small = {"problems": {n: suite["problems"][n] for n in SMALL}}
    (root / "problems.yaml").write_text(yaml.safe_dump(small, sort_keys=False))
    shutil.copytree(paths.EXAMPLES_DIR, root / "profiles")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in [("PROBLEMS_FILE", root / "problems.yaml"), ("PROFILES_DIR", root / "profiles"),
                            ("CANDIDATES_DIR", root / "candidates"), ("PROMOTED_DIR", root / "promoted"),
                            ("REPORTS_DIR", root / "reports"), ("EXAMPLES_DIR", root / "no-examples")]:
            mp.setattr(paths, name, value)
        answers = root / "answers"   # what the command model answers with, one file per call
        answers.mkdir()
        for name in EDITS:
            (answers / name).write_text(edited(name))
        (answers / "6_prose.md").write_text(PROSE)
        yield root


def agent_run(*args):
    out = invoke("agent", "--no-report", "--check", "small", *args)
    assert out.exit_code == 0, out.output
    run_id = next(line.split()[1].rstrip(":") for line in out.output.splitlines() if line.startswith("run "))
    return out.output, record.load(run_id)


@pytest.fixture(scope="module")
def command_run(workspace):
    """Four rounds of two answers from the command model (the fourth repeats the first two),
    measurements from MID_ALL."""
    answers, prompts = workspace / "answers", workspace / "prompts"
    model = f"{sys.executable} {AGENT / 'replay_model.py'} {answers} --prompts {prompts}"
    return agent_run("--stage", "memory", "--from-run", MID_ALL, "--start", SEED1.spec, "--model", model,
                     "--rounds", 4, "--candidates", 2, "--rule-budget", 12)


# ---- answers to candidates ----

def test_extract_takes_the_python_blocks_that_hold_modelnew():
    code = "import torch\n\nclass ModelNew(nn.Module):\n    pass\n"
    answer = (f"Plan first.\n```text\nclass ModelNew is below\n```\n```python\nx = 1\n```\n"
              f"```python\n{code}```\nand a second try:\n```py\n{code.replace('pass', 'x = 2')}```\n")
    assert agent.extract(answer) == [code, code.replace("pass", "x = 2")]
    assert agent.extract(code.rstrip("\n")) == [code]             # a bare file is taken whole
    assert agent.extract("no code here") == agent.extract(None) == []
    assert agent.extract("```python\nclass Model(nn.Module):\n    pass\n```") == []


def test_each_answer_gets_its_verdict(command_run):
    _, rec = command_run
    assert agent.verdicts(rec) == [
        (1, 1, name_of("1_correct.py"), "not_timed"), (1, 2, name_of("2_wrong.py"), "incorrect"),
        (2, 1, name_of("3_rule.py"), "refused"), (2, 2, name_of("4_compile.py"), "crash"),
        (3, 1, name_of("5_syntax.py"), "refused"), (3, 2, None, "no_code"),
        (4, 1, name_of("1_correct.py"), "duplicate"), (4, 2, name_of("2_wrong.py"), "duplicate")]
    rounds = rec.extra["agent"]["rounds"]
    reasons = {c["name"]: c["reason"] for r in rounds[:3] for c in r["candidates"]}
    assert [c["reason"] for c in rounds[3]["candidates"]] == [
        f"the same code as round 1, answer {n} ({name_of(f)})" for n, f in ((1, "1_correct.py"), (2, "2_wrong.py"))]
    assert reasons[name_of("1_correct.py")].startswith(f"correct against float64 on {', '.join(SMALL)}")
    assert "not timed: the measurements here come from a recorded run" in reasons[name_of("1_correct.py")]
    wrong = reasons[name_of("2_wrong.py")]   # the dilation is ignored: wrong where it is not 1
    assert "edge-padding (rel_l2" in wrong and "edge-footprint-exact (rel_l2" in wrong and "edge-cin1" not in wrong
    assert "rule 2: 'if __name__' block is not allowed" in reasons[name_of("3_rule.py")]
    assert "arange's range must be a power of 2" in reasons[name_of("4_compile.py")]
    assert "syntax error: expected ':'" in reasons[name_of("5_syntax.py")]
    checks = next(c for c in rounds[0]["candidates"] if c["verdict"] == "incorrect")["checks"]
    assert [(c["problem"], c["passed"]) for c in checks] == [(SMALL[0], True), (SMALL[1], False), (SMALL[2], False)]
    assert all(c["rel_l2"] > c["tolerance"] for c in checks if not c["passed"])


def test_only_the_correct_candidate_is_registered(command_run, workspace):
    _, rec = command_run
    correct = rec.extra["agent"]["rounds"][0]["candidates"][0]
    assert registry.family(correct["family"]).variant().id == correct["variant"] == f"cand_{correct['name']}"
    assert sorted(p.stem for p in (workspace / "candidates").glob("*.py")) == [correct["name"]]
    assert registry.family(correct["family"]).stages == ()   # so the stage rules never switch to it
    for turn in rec.extra["agent"]["rounds"]:   # every candidate's code is kept with the run
        for c in turn["candidates"]:
            assert c["name"] is None or (rec.dir / c["file"]).read_text() in turn["answers"][c["answer"] - 1]["text"]


def test_failure_reasons_reach_the_next_prompt(command_run, workspace):
    _, rec = command_run
    rounds = rec.extra["agent"]["rounds"]
    assert agent.TRIED_HEADING not in rounds[0]["prompt"]
    for i, turn in enumerate(rounds[1:], start=1):
        tried = turn["prompt"].split(agent.TRIED_HEADING, 1)[1].split("**Task**", 1)[0]
        for earlier in rounds[:i]:
            for c in earlier["candidates"]:
                assert f"round {earlier['index']}, answer {c['answer']}" in tried and c["reason"] in tried
    assert "InterpreterError" in rounds[2]["prompt"]   # a crash brings its traceback's last lines
    # what the model read on stdin is the recorded prompt
    for turn in rounds:
        for a in turn["answers"]:
            assert (workspace / "prompts" / f"prompt-{a['call']}.txt").read_text() == turn["prompt"]


def test_the_rules_run_in_the_same_rounds(command_run):
    output, rec = command_run
    first = rec.iterations[0]
    by_rule = {}
    for p in first.proposals:
        by_rule.setdefault(p.rule, []).append(p.outcome)
    # the rules' outcomes are the recorded H200 measurements; the model's are its verdicts
    assert by_rule["stages-if-unsure"] == ["faster"] and by_rule["stages-up-on-memory-stalls"] == ["slower"]
    assert by_rule["model"] == ["not_timed", "failed"]
    transcript = rec.extra["agent"]
    assert transcript["rounds"][0]["winner"]["source"] == "rules"
    assert transcript["rounds"][0]["result"] == f"new incumbent {FASTER_SEED1.id} (rules), " \
                                                f"{rec.variants[FASTER_SEED1.id].median_ms:.4g} ms"
    assert transcript["rounds"][1]["incumbent"] == FASTER_SEED1.id == rec.best
    code = [turn["prompt"].split("[CURRENT CODE]")[1].split("[NCU PROFILING METRICS]")[0]
            for turn in transcript["rounds"]]   # the code the prompt shows is the incumbent's
    assert [f"'num_stages': {n}," in c for c, n in zip(code, (2, 1, 1, 1))] == [True] * 4
    assert [s.incumbent for s in rec.iterations] == [SEED1.id] + [FASTER_SEED1.id] * 3
    assert rec.iterations[-1].stop == "4 round(s) done"
    assert (rec.kind, rec.strategy, rec.start_from) == ("agent", "agent", f"--start {SEED1.spec}")
    assert transcript["summary"]["rule_wins"] == [FASTER_SEED1.id] and transcript["summary"]["model_wins"] == []
    assert f"best {FASTER_SEED1.id}" in output
    # each entry says where it came from: the start, a rule, or the model
    assert rec.variants[SEED1.id].source == "start"
    assert rec.variants[FASTER_SEED1.id].source == "stages-if-unsure"
    assert {e.source for e in rec.variants.values()} - {"start", "model"} <= set(by_rule) - {"model"}
    # the model's proposals name the candidate: its variant where it became one, else its name
    model = [p for p in first.proposals if p.rule == "model"]
    correct, wrong = name_of("1_correct.py"), name_of("2_wrong.py")
    assert [(p.variant, p.spec, p.changes) for p in model] == [
        (f"cand_{correct}", f"cand_{correct}", {"family": f"cand_{correct}"}), (wrong, wrong, {})]
    assert all(p.rank is None and p.evidence == [] for p in model)


def test_the_transcript_is_in_the_record(command_run):
    _, rec = command_run
    transcript = rec.extra["agent"]
    assert rec.to_dict()["agent"] == transcript   # "agent" at the top of run.json
    assert transcript["model"]["kind"] == "command" and "replay_model.py" in transcript["model"]["command"]
    answers = [a for r in transcript["rounds"] for a in r["answers"]]
    assert [a["call"] for a in answers] == list(range(8))
    assert answers[0]["text"].startswith("Here is the kernel (1_correct.py)")
    assert answers[5]["text"] == PROSE
    assert all(a["elapsed_s"] > 0 and a["error"] is None and a["prompt_tokens"] is None for a in answers)
    assert transcript["summary"]["verdicts"] == {"not_timed": 1, "incorrect": 1, "refused": 2, "crash": 1, "no_code": 1,
                                                 "duplicate": 2}
    assert transcript["check_problems"] == list(SMALL)
    checked = [c for r in transcript["rounds"] for c in r["candidates"] if c.get("checks")]
    assert checked and all(c["check_s"] > 0 for c in checked)


def test_a_timed_candidate_that_beats_the_incumbent_becomes_it(workspace):
    """What a GPU does, from a record: MID_ALL plus a timing of the correct answer (40% under
    the best there), so the loop judges it like any variant and keeps it."""
    recorded = record.load(MID_ALL)
    best = recorded.best_entry
    winner = f"cand_{name_of('1_correct.py')}"
    faster_ms = best.median_ms * 0.6
    recorded.variants[winner] = dataclasses.replace(best, id=winner, family=winner, config={}, spec=winner,
                                                    timing=dataclasses.replace(best.timing, median_ms=faster_ms))
    recorded.run_id = "mid-with-a-timed-candidate"
    record.write_json(workspace / "profiles" / recorded.run_id / "run.json", recorded.to_dict())
    answers = workspace / "two-answers"
    answers.mkdir()
    for name in ("1_correct.py", "2_wrong.py"):
        (answers / name).write_text(edited(name))
    _, rec = agent_run("--stage", "memory", "--from-run", recorded.run_id, "--start", SEED1.spec,
                       "--model", f"{sys.executable} {AGENT / 'replay_model.py'} {answers}",
                       "--rounds", 2, "--candidates", 1)
    assert agent.verdicts(rec) == [(1, 1, name_of("1_correct.py"), "faster"),
                                   (2, 1, name_of("2_wrong.py"), "incorrect")]
    first, second = rec.extra["agent"]["rounds"]
    assert first["winner"] == {"variant": winner, "source": "model", "rule": "model",
                               "candidate": name_of("1_correct.py"), "median_ms": faster_ms}
    assert first["result"] == f"new incumbent {winner} (model), {faster_ms:.4g} ms"
    outcomes = {p.rule: p.outcome for p in rec.iterations[0].proposals}
    assert outcomes["model"] == outcomes["stages-if-unsure"] == "faster"   # both beat the start; the model's by more
    assert rec.best == second["incumbent"] == winner and rec.extra["agent"]["summary"]["model_wins"] == [winner]
    assert rec.variants[winner].source == "model" and rec.variants[winner].iteration == 1
    # the next prompt shows the candidate's own code as the current code, and not as a failure
    assert f"```python\n{edited('1_correct.py')}```" in second["prompt"]
    assert agent.TRIED_HEADING not in second["prompt"]   # round 1's one answer won: nothing failed
    assert f"{winner}: {faster_ms:.4g} ms (rule model:" in second["prompt"]   # its history row
    assert all(p.outcome == "not_measured" for p in rec.iterations[1].proposals if p.rule != "model")
    html = Path(report.write_report(rec.dir, workspace / "reports")).read_text()   # its row links to its entry
    assert f'<a href="#v-{winner}">{winner}</a></td>' in html.split('id="reasoning"', 1)[1]


def test_stages_run_in_order_each_from_the_previous_best(workspace):
    prose = f"{sys.executable} -c \"print('Lower BLOCK_M; no code this time.')\""
    out = invoke("agent", "--no-report", "--stage", "memory", "--stage", "grid", "--from-run", MID_ALL,
                 "--start", SEED1.spec, "--model", prose, "--rounds", 1, "--candidates", 1, "--rule-budget", 12)
    assert out.exit_code == 0, out.output
    runs = [record.load(line.split()[1].rstrip(":")) for line in out.output.splitlines() if line.startswith("run ")]
    assert [r.stage["name"] for r in runs] == ["memory", "grid"]
    assert runs[0].best == FASTER_SEED1.id == runs[1].baseline
    assert runs[1].start_from == f"the best of stage memory ({runs[0].run_id})"
    assert [agent.verdicts(r) for r in runs] == [[(1, 1, None, "no_code")]] * 2


def test_stages_file_is_the_stage_definitions(workspace, tmp_path):
    """--stages FILE replaces stages.yaml, as in every other command (--stage names the stages to run)."""
    stages = yaml.safe_load(paths.STAGES_FILE.read_text())
    stages["stages"]["memory"]["focus"] = "the memory stage, from a file of its own"
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    prose = f"{sys.executable} -c \"print('no code')\""
    _, rec = agent_run("--stages", tmp_path / "stages.yaml", "--stage", "memory", "--from-run", MID_ALL,
                       "--model", prose, "--rounds", 1, "--candidates", 1, "--rule-budget", 0)
    assert rec.stage["focus"] == "the memory stage, from a file of its own"
    assert rec.start_from == f"the best of the recorded run ({MID_ALL})"


def test_the_report_shows_model_and_rules(command_run, workspace, tmp_path):
    """`workbench report RUN` renders an agent run: each iteration's table holds the model's
    proposals (rule "model") next to the rules'."""
    _, rec = command_run
    out = invoke("report", rec.run_id, "--out", tmp_path)
    assert out.exit_code == 0, out.output
    html = Path(out.output.strip().splitlines()[-1]).read_text()
    reasoning = html.split('<section id="reasoning">', 1)[1].split("</section>", 1)[0]
    first = reasoning.split("<h3>")[1]   # iteration 1
    rows = first.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    rules_of = [row.split("<strong>", 1)[1].split("</strong>", 1)[0] for row in rows]
    assert "stages-if-unsure" in rules_of and rules_of.count("model") == 2
    correct, wrong = (row for row, rule in zip(rows, rules_of) if rule == "model")
    # neither has an entry to link to: the first was never timed here, the second never became a variant
    assert f"cand_{name_of('1_correct.py')}" in correct and report.OUTCOMES["not_timed"] in correct
    assert name_of("2_wrong.py") in wrong and "incorrect" in wrong and "#v-" not in correct + wrong
    assert report.PROPOSERS["model"] in correct
    assert reasoning.count("<strong>model</strong>") == 5   # rounds 1-3: 2, 2, 1 (the no-code and duplicates are not)


def test_a_replay_reproduces_the_verdicts_without_the_model(command_run, workspace):
    _, recorded = command_run
    prompts_before = sorted((workspace / "prompts").iterdir())
    out = invoke("agent", "--replay", recorded.run_id, "--no-report")
    assert out.exit_code == 0, out.output
    assert "replay: 8 of 8 verdicts as recorded" in out.output
    assert sorted((workspace / "prompts").iterdir()) == prompts_before   # the model was not run
    run_id = next(line.split()[1].rstrip(":") for line in out.output.splitlines() if line.startswith("run "))
    replayed = record.load(run_id)
    assert replayed.replay_of == recorded.run_id and replayed.extra["agent"]["model"]["kind"] == "replay"
    assert replayed.start_from == f"the replayed run's start ({recorded.run_id})"
    assert agent.verdicts(replayed) == agent.verdicts(recorded)
    assert [s.proposals for s in replayed.iterations] == [s.proposals for s in recorded.iterations]
    for a, b in zip(recorded.extra["agent"]["rounds"], replayed.extra["agent"]["rounds"]):
        assert b["prompt"].replace(replayed.run_id, recorded.run_id) == a["prompt"]


def test_the_gpu_scripts_answers(workspace, tmp_path):
    """bench/agent_gpu.sh's recorded model: its fast candidate passes the checks, its cuDNN one is refused."""
    from workbench.problems import load_suite
    problems = list(load_suite().problems.values())
    fast, _ = agent.examine((AGENT / "gpu" / "1_row_gemm_const.py").read_text(), tmp_path / "fast.py", problems)
    assert fast["verdict"] == "checked" and [c["passed"] for c in fast["checks"]] == [True] * len(SMALL)
    cudnn, _ = agent.examine((AGENT / "gpu" / "2_cudnn_in_disguise.py").read_text(), tmp_path / "cudnn.py", problems)
    assert cudnn["verdict"] == "refused" and "rule 1.2" in cudnn["reason"]
    assert "rule 1.1: 'import math' is not allowed" in cudnn["reason"]


# ---- a loopback chat-completions server ----

class ChatServer:
    """An OpenAI-style /v1 on 127.0.0.1: each POST takes the next scripted reply, ("answer",
    text) with token counts, ("status", code) or ("sleep", seconds); GET /v1/models lists one."""

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):   # a client that timed out has left
                    pass

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": "fixture-model", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                kind, value = server.replies.pop(0) if server.replies else ("status", 503)
                if kind == "sleep":
                    time.sleep(value)
                    return self._send(200, {"choices": [{"message": {"content": "too late"}}]})
                if kind == "status":
                    return self._send(value, {"error": {"message": f"scripted {value}"}})
                prompt = body["messages"][0]["content"]
                usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(value.split())}
                self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": value}}],
                                 "usage": usage})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def fenced(answer_file: str) -> str:
    return f"Try this:\n```python\n{edited(answer_file)}```\n"


def test_retries_after_a_500_then_counts_the_tokens():
    with ChatServer([("status", 500), ("status", 502), ("answer", "fine, thanks")]) as server:
        model = models.ChatModel(server.url, "m", retries=3, backoff_s=0.01, timeout_s=5, cost_per_1k=(1.0, 2.0))
        answer = model.ask("how are you today", 1, 0)
    assert answer.text == "fine, thanks" and answer.error is None
    assert [a["attempt"] for a in answer.attempts] == [1, 2]
    assert answer.attempts[0]["error"].startswith("HTTP 500") and answer.attempts[1]["error"].startswith("HTTP 502")
    assert (answer.prompt_tokens, answer.completion_tokens) == (4, 2)
    assert answer.cost == pytest.approx((4 * 1.0 + 2 * 2.0) / 1000)
    assert len(server.requests) == 3 and server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["body"]["model"] == "m"


def test_a_timeout_is_reported_after_the_retries():
    with ChatServer([("sleep", 1.0), ("sleep", 1.0)]) as server:
        start = time.monotonic()
        answer = models.ChatModel(server.url, "m", retries=1, backoff_s=0.01, timeout_s=0.3).ask("hi", 1, 0)
        assert time.monotonic() - start < 2.0
    assert answer.text is None and answer.error.startswith("timeout: no answer within 0.3 s")
    assert "(after 2 attempt(s))" in answer.error and len(answer.attempts) == 2


def test_a_client_error_is_not_retried_and_nothing_listens_is_reported():
    with ChatServer([("status", 400)]) as server:
        answer = models.ChatModel(server.url, "m", retries=3, backoff_s=0.01, timeout_s=5).ask("hi", 1, 0)
        url = server.url
    assert answer.error.startswith("HTTP 400") and "scripted 400" in answer.error and len(answer.attempts) == 1
    gone = models.ChatModel(url, "m", retries=0, timeout_s=2).ask("hi", 1, 0)   # the server is closed now
    assert gone.text is None and gone.error.startswith(f"cannot reach {url}/chat/completions")


def test_the_http_model_in_the_loop(workspace, monkeypatch):
    monkeypatch.setenv("WB_TEST_KEY", "sk-test-123")
    replies = [("status", 500), ("answer", fenced("3_rule.py")), ("answer", fenced("2_wrong.py")),
               ("sleep", 2.0), ("sleep", 2.0)]   # the third answer times out, and so does its retry
    with ChatServer(replies) as server:
        output, rec = agent_run("--stage", "memory", "--from-run", MID_ALL, "--model", server.url,
                                "--api-key-env", "WB_TEST_KEY", "--rounds", 1, "--candidates", 3, "--rule-budget", 0,
                                "--model-timeout", 0.5, "--retries", 1, "--backoff", 0.01, "--cost-per-1k", "0.5,1.5")
    assert all(r["auth"] == "Bearer sk-test-123" for r in server.requests)
    assert {r["body"]["model"] for r in server.requests} == {"fixture-model"}   # from GET /v1/models
    assert "sk-test-123" not in json.dumps(rec.to_dict(), default=str)
    assert agent.verdicts(rec) == [(1, 1, name_of("3_rule.py"), "refused"), (1, 2, name_of("2_wrong.py"), "incorrect")]
    transcript = rec.extra["agent"]
    first, second, third = transcript["rounds"][0]["answers"]
    assert len(first["attempts"]) == 1 and first["attempts"][0]["error"].startswith("HTTP 500")
    assert third["text"] is None and third["error"].startswith("timeout") and len(third["attempts"]) == 2
    assert "answer 3 (" in output and "no answer: timeout" in output
    words = len(transcript["rounds"][0]["prompt"].split())
    assert first["prompt_tokens"] == second["prompt_tokens"] == words
    done = transcript["summary"]
    assert done["prompt_tokens"] == 2 * words and done["no_answer"] == 1
    assert done["completion_tokens"] == first["completion_tokens"] + second["completion_tokens"]
    assert done["cost"] == pytest.approx((2 * words * 0.5 + done["completion_tokens"] * 1.5) / 1000)
    assert transcript["model"]["api_key_env"] == "WB_TEST_KEY" and transcript["model"]["api_key_set"]
    assert f"{done['prompt_tokens']} prompt + {done['completion_tokens']} completion tokens" in output


# ---- command models ----

def test_command_models(tmp_path):
    assert isinstance(models.make_model("http://localhost:8000/v1"), models.ChatModel)
    assert models.make_model("cmd:python3 -c pass").argv == ["python3", "-c", "pass"]
    assert models.make_model("python3 my_model.py --x 'a b'").argv == ["python3", "my_model.py", "--x", "a b"]
    echo = models.CommandModel(f"{sys.executable} -c \"import os, sys; "
                               f"print(os.environ['WORKBENCH_AGENT_CALL'], sys.stdin.read())\"")
    assert echo.ask("the prompt", 2, 7).text == "7 the prompt\n"
    failing = models.CommandModel(f"{sys.executable} -c \"import sys; sys.exit('out of ideas')\"").ask("p", 1, 0)
    assert failing.text is None and failing.error == "exit code 1: out of ideas"
    slow = models.CommandModel(f"{sys.executable} -c \"import time; time.sleep(30)\"", timeout_s=0.5)
    start = time.monotonic()
    assert slow.ask("p", 1, 0).error == "timeout: no answer after 0.5 s" and time.monotonic() - start < 5
    assert models.CommandModel("no-such-command-here").ask("p", 1, 0).error.startswith("cannot run")
    assert models.parse_cost("0.5") == (0.5, 0.5) and models.parse_cost("1,2") == (1.0, 2.0)


@pytest.mark.parametrize("args,says", [
    (["--replay", "x", "--model", "m"], "drop --model"),
    (["--replay", "x", "--stage", "memory"], "drop --model/--stage"),
    (["--model", "m"], "pass --stage S (repeatable"),
    (["--stage", "memory", "--stages", "no-such-stages.yaml", "--model", "m", "--from-run", MID_ALL],
     "no-such-stages.yaml"),
    (["--stage", "memory", "--from-run", MID_ALL], "--model is required"),
    (["--replay", MID_ALL], "is not an agent run"),
])
def test_bad_command_lines(workspace, args, says):
    out = invoke("agent", *args)
    assert out.exit_code == 2 and says in out.output
