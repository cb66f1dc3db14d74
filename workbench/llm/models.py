"""The models `workbench agent` asks: a prompt in, an answer out, with what it cost.

Three kinds behind one method, ask(prompt, round_index, call) -> Answer:
  CommandModel  any command that reads the prompt on stdin and writes its answer on stdout
                (`--model "cmd:python3 my_model.py"` or a plain command string)
  ChatModel     an OpenAI-compatible chat-completions endpoint (`--model http://host:port/v1`):
                vLLM, llama.cpp's server, hosted APIs; through urllib, with a timeout per
                request, retries with exponential backoff on timeouts, 429 and 5xx, and the
                token counts the server reports (usage.prompt_tokens / completion_tokens)
  ReplayModel   the answers a recorded agent run holds (`--replay RUN`), so a run replays
                without the model
A model that fails never raises: its Answer has no text and says why (error). Nothing here
touches the network until ask() is called.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field

from workbench.errors import WorkbenchError

RETRY_STATUSES = (408, 409, 429)   # and every 5xx
MAX_BACKOFF_S = 60.0
ERROR_TAIL = 600                   # characters of a failing command's stderr or an HTTP error body


@dataclass
class Answer:
    text: str | None               # None: no answer, `error` says why
    error: str | None = None
    elapsed_s: float = 0.0
    attempts: list = field(default_factory=list)   # HTTP: [{attempt, status, error, elapsed_s}] per failed try
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None      # from --cost-per-1k, when the tokens are known

    def to_dict(self) -> dict:
        return asdict(self)


def _tail(text: str, limit: int = ERROR_TAIL) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class CommandModel:
    """A command: the prompt on its stdin, the answer from its stdout. Each call also gets
    WORKBENCH_AGENT_ROUND and WORKBENCH_AGENT_CALL (0-based across the run) in its environment."""

    def __init__(self, command: str, timeout_s: float = 600.0):
        self.command = command
        self.argv = shlex.split(command)
        if not self.argv:
            raise WorkbenchError("--model: empty command")
        self.timeout_s = timeout_s

    def describe(self) -> dict:
        return {"kind": "command", "command": self.command, "timeout_s": self.timeout_s}

    def ask(self, prompt: str, round_index: int, call: int) -> Answer:
        env = {**os.environ, "WORKBENCH_AGENT_ROUND": str(round_index), "WORKBENCH_AGENT_CALL": str(call)}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, errors="replace", env=env, start_new_session=True)
        except OSError as exc:
            return Answer(None, f"cannot run {self.argv[0]!r}: {exc.strerror or exc}")
        try:
            out, err = proc.communicate(prompt, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)   # the command and anything it started
            except ProcessLookupError:
                pass
            proc.communicate()
            return Answer(None, f"timeout: no answer after {self.timeout_s:g} s", time.monotonic() - start)
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            return Answer(None, f"exit code {proc.returncode}: {_tail(err)}", elapsed)
        return Answer(out, None, elapsed)


class ChatModel:
    """POST {base}/chat/completions with one user message; the key (if any) from an environment
    variable, sent as a bearer token and never recorded."""

    def __init__(self, base_url: str, model_name: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout_s: float = 600.0, retries: int = 3, backoff_s: float = 2.0,
                 temperature: float | None = None, max_tokens: int | None = None,
                 cost_per_1k: tuple = (None, None)):
        base = base_url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.models_url = self.url.rsplit("/chat/completions", 1)[0] + "/models"
        self.model_name, self.api_key_env = model_name, api_key_env
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.temperature, self.max_tokens = temperature, max_tokens
        self.cost_per_1k = tuple(cost_per_1k)

    def describe(self) -> dict:
        return {"kind": "chat-completions", "url": self.url, "model_name": self.model_name,
                "api_key_env": self.api_key_env, "api_key_set": bool(os.environ.get(self.api_key_env)),
                "timeout_s": self.timeout_s, "retries": self.retries, "backoff_s": self.backoff_s,
                "temperature": self.temperature, "max_tokens": self.max_tokens,
                "cost_per_1k": {"prompt": self.cost_per_1k[0], "completion": self.cost_per_1k[1]}}

    def _headers(self) -> dict:
        key = os.environ.get(self.api_key_env)
        return {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}

    def _request(self, url: str, body: dict | None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=self._headers(),
                                         method="GET" if data is None else "POST")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.loads(response.read().decode("utf-8", "replace"))

    def _name(self) -> str:
        """--model-name, else the first model the server lists (vLLM and llama.cpp serve one)."""
        if not self.model_name:
            try:
                listed = self._request(self.models_url, None).get("data") or []
                self.model_name = listed[0]["id"]
            except (OSError, ValueError, LookupError, TypeError, AttributeError):
                self.model_name = "default"
        return self.model_name

    def _cost(self, prompt_tokens, completion_tokens) -> float | None:
        rate_in, rate_out = self.cost_per_1k
        if rate_in is None or prompt_tokens is None:
            return None
        rate_out = rate_in if rate_out is None else rate_out
        return (prompt_tokens * rate_in + (completion_tokens or 0) * rate_out) / 1000

    def _try(self, body: dict) -> tuple:
        """(answer dict, None) or (None, (error, retryable, retry_after_s))."""
        try:
            return self._request(self.url, body), None
        except urllib.error.HTTPError as exc:
            text = _tail(exc.read().decode("utf-8", "replace") if exc.fp else "")
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            retryable = exc.code in RETRY_STATUSES or exc.code >= 500
            return None, (f"HTTP {exc.code} {exc.reason}: {text}", retryable,
                          float(retry_after) if retry_after and retry_after.isdigit() else None)
        except (TimeoutError, socket.timeout):
            return None, (f"timeout: no answer within {self.timeout_s:g} s", True, None)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                return None, (f"timeout: no answer within {self.timeout_s:g} s", True, None)
            return None, (f"cannot reach {self.url}: {exc.reason}", True, None)
        except (OSError, ValueError) as exc:   # a dropped connection, a body that is not JSON
            return None, (f"unreadable answer from {self.url}: {exc}", True, None)

    def ask(self, prompt: str, round_index: int, call: int) -> Answer:
        body = {"model": self._name(), "messages": [{"role": "user", "content": prompt}]}
        options = (("temperature", self.temperature), ("max_tokens", self.max_tokens))
        body.update({k: v for k, v in options if v is not None})
        start, attempts = time.monotonic(), []
        for attempt in range(1, self.retries + 2):
            began = time.monotonic()
            data, failure = self._try(body)
            if failure is None:
                try:
                    text = data["choices"][0]["message"]["content"]
                except (LookupError, TypeError):
                    failure = (f"no choices[0].message.content in the answer: {_tail(json.dumps(data))}", False, None)
                else:
                    usage = data.get("usage") or {}
                    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
                    return Answer(text, None, time.monotonic() - start, attempts, pt, ct, self._cost(pt, ct))
            error, retryable, retry_after = failure
            attempts.append({"attempt": attempt, "error": error, "elapsed_s": round(time.monotonic() - began, 3)})
            if not retryable or attempt > self.retries:
                break
            time.sleep(min(retry_after if retry_after is not None else self.backoff_s * 2 ** (attempt - 1),
                           MAX_BACKOFF_S))
        return Answer(None, f"{attempts[-1]['error']} (after {len(attempts)} attempt(s))", time.monotonic() - start,
                      attempts)


class ReplayModel:
    """The answers of a recorded agent run, by round and call: the model is not asked again."""

    def __init__(self, recorded):
        agent = recorded.extra.get("agent") or {}   # a record.Run's transcript (llm/agent.py)
        self.run_id = recorded.run_id
        self.answers = {(r["index"], a["call"]): a for r in agent.get("rounds", []) for a in r.get("answers", [])}
        self.recorded_model = agent.get("model")

    def describe(self) -> dict:
        return {"kind": "replay", "replay_of": self.run_id, "recorded_model": self.recorded_model}

    def ask(self, prompt: str, round_index: int, call: int) -> Answer:
        found = self.answers.get((round_index, call))
        if found is None:
            return Answer(None, f"run {self.run_id} recorded no answer for round {round_index}, call {call}")
        return Answer(**{k: found.get(k) for k in Answer.__dataclass_fields__ if k in found})


def parse_cost(text: str | None) -> tuple:
    """--cost-per-1k 'PROMPT[,COMPLETION]' (currency per 1000 tokens) -> (prompt, completion)."""
    if not text:
        return (None, None)
    try:
        rates = [float(x) for x in text.split(",")]
    except ValueError:
        raise WorkbenchError(f"bad --cost-per-1k {text!r}: expected PROMPT[,COMPLETION], e.g. 0.5,1.5") from None
    if len(rates) not in (1, 2):
        raise WorkbenchError(f"bad --cost-per-1k {text!r}: expected one or two numbers")
    return (rates[0], rates[-1])


def make_model(spec: str, model_name: str | None = None, api_key_env: str = "OPENAI_API_KEY",
               timeout_s: float = 600.0, retries: int = 3, backoff_s: float = 2.0, temperature: float | None = None,
               max_tokens: int | None = None, cost_per_1k: tuple = (None, None)):
    """--model: an http(s) URL is a chat-completions endpoint; 'cmd:COMMAND' or any other string a command."""
    if spec.startswith(("http://", "https://")):
        return ChatModel(spec, model_name, api_key_env, timeout_s, retries, backoff_s, temperature, max_tokens,
                         cost_per_1k)
    return CommandModel(spec[len("cmd:"):] if spec.startswith("cmd:") else spec, timeout_s)
