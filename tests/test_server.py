"""The local Triton launcher: loopback-only ports, health, model metadata, clean stop, clear failures."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import pyflink_triton.server as server_package
from pyflink_triton.errors import TritonLaunchError
from pyflink_triton.server import TritonServer, find_tritonserver
from pyflink_triton.server import backends as backends_module
from pyflink_triton.server import cli as cli_module
from pyflink_triton.server import launcher as launcher_module
from pyflink_triton.server import process as process_module

# Starts its own Triton servers: outside the fast tier (`make check`).
pytestmark = pytest.mark.triton

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_REPOSITORY = REPO_ROOT / "model_repository"


def _needs_binary() -> None:
    find_tritonserver()  # raises TritonLaunchError (a failure, not a skip) when missing


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A = LISTEN
                continue
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
            else:
                words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)]
                text = socket.inet_ntop(socket.AF_INET6, b"".join(words))
                # gRPC listens on an IPv6 socket bound to the IPv4-mapped loopback address.
                found.add(text.removeprefix("::ffff:"))
    return found


def _live_group_members(pgid: int) -> list[int]:
    """Pids of live (not zombie) processes in process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            pids.append(int(entry))
    return pids


def _small_repository(tmp_path: Path, *models: str) -> Path:
    repository = tmp_path / "repo"
    repository.mkdir()
    for model in models:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(MODEL_REPOSITORY / model, repository / model, ignore=ignore)
    return repository


# -- the session server --------------------------------------------------------------------------------


def test_ports_are_distinct_and_listen_on_loopback_only(triton_server: TritonServer) -> None:
    ports = {triton_server.http_port, triton_server.grpc_port, triton_server.metrics_port}
    assert len(ports) == 3
    for port in ports:
        assert _listening_addresses(port) == {"127.0.0.1"}, port
    assert triton_server.url == f"http://127.0.0.1:{triton_server.http_port}"


def test_live_ready_and_server_metadata(triton_url: str) -> None:
    assert _get(f"{triton_url}/v2/health/live")[0] == 200
    assert _get(f"{triton_url}/v2/health/ready")[0] == 200
    status, body = _get(f"{triton_url}/v2")
    assert status == 200
    assert json.loads(body)["version"] == "2.51.0"


def test_metrics_endpoint_answers(triton_server: TritonServer) -> None:
    status, body = _get(f"http://127.0.0.1:{triton_server.metrics_port}/metrics")
    assert status == 200
    assert b"nv_inference_request_success" in body


def test_properties_of_a_running_server(triton_server: TritonServer) -> None:
    assert triton_server.is_running
    assert triton_server.pid is not None and triton_server.pid > 0
    assert triton_server.log_path is not None and triton_server.log_path.is_file()
    assert "Started HTTPService at 127.0.0.1" in triton_server.log_path.read_text(errors="replace")
    assert triton_server.models == sorted(p.name for p in MODEL_REPOSITORY.iterdir() if p.is_dir())
    assert triton_server.start() is triton_server  # already running: no second process
    assert triton_server.is_running


ALL_TYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "BF16",
    "FP32",
    "FP64",
    "BYTES",
]
EXPECTED_METADATA = {
    "text-classification": (
        1024,
        [("INPUT_TEXT", "BYTES", [-1, 1])],
        [("OUTPUT_TEXT", "BYTES", [-1, 1])],
    ),
    "classifier": (1024, [("features", "FP32", [-1, 4])], [("class_id", "INT64", [-1, 1])]),
    "vector-transform": (0, [("input_vector", "FP32", [-1])], [("output_vector", "FP32", [-1])]),
    "sequence-model": (64, [("INPUT", "INT64", [-1, 1])], [("OUTPUT", "INT64", [-1, 1])]),
    "multi-io": (
        1024,
        [("ids", "INT64", [-1, 1]), ("text", "BYTES", [-1, 1]), ("vec", "FP32", [-1, 3])],
        [
            ("id_times_two", "INT64", [-1, 1]),
            ("text_upper", "BYTES", [-1, 1]),
            ("text_length", "INT32", [-1, 1]),
            ("vec_sum", "FP64", [-1, 1]),
            ("vec_scaled", "FP32", [-1, 3]),
            ("is_long", "BOOL", [-1, 1]),
        ],
    ),
    "echo-all-types": (
        1024,
        [(f"IN_{t}", t, [-1, -1]) for t in ALL_TYPES],
        [(f"OUT_{t}", t, [-1, -1]) for t in ALL_TYPES],
    ),
    "tiny-llm": (
        0,
        [
            ("text_input", "BYTES", [1]),
            ("stream", "BOOL", [1]),
            ("exclude_input_in_output", "BOOL", [1]),
            ("bad_words", "BYTES", [-1]),
        ],
        [("text_output", "BYTES", [-1])],
    ),
    "echo-scalars": (
        1024,
        [(f"IN_{t}", t, [-1, 1]) for t in ALL_TYPES],
        [(f"OUT_{t}", t, [-1, 1]) for t in ALL_TYPES],
    ),
}


def test_every_repository_model_has_expected_metadata() -> None:
    assert sorted(EXPECTED_METADATA) == sorted(p.name for p in MODEL_REPOSITORY.iterdir() if p.is_dir())


@pytest.mark.parametrize("model", sorted(EXPECTED_METADATA))
def test_model_metadata_and_config(triton_url: str, model: str) -> None:
    max_batch_size, inputs, outputs = EXPECTED_METADATA[model]
    status, body = _get(f"{triton_url}/v2/models/{model}")
    assert status == 200, body
    metadata = json.loads(body)
    assert metadata["name"] == model
    assert metadata["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == inputs
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["outputs"]] == outputs
    status, body = _get(f"{triton_url}/v2/models/{model}/config")
    assert status == 200, body
    config = json.loads(body)
    assert config["backend"] == "python"
    assert config["max_batch_size"] == max_batch_size
    assert _get(f"{triton_url}/v2/models/{model}/ready")[0] == 200


@pytest.mark.parametrize("model", ["echo-all-types", "echo-scalars"])
def test_echo_inputs_are_optional(triton_url: str, model: str) -> None:
    config = json.loads(_get(f"{triton_url}/v2/models/{model}/config")[1])
    assert all(i["optional"] for i in config["input"])


def test_sequence_model_uses_the_sequence_batcher(triton_url: str) -> None:
    config = json.loads(_get(f"{triton_url}/v2/models/sequence-model/config")[1])
    controls = {c["name"]: c["control"][0]["kind"] for c in config["sequence_batching"]["control_input"]}
    assert controls == {
        "START": "CONTROL_SEQUENCE_START",
        "END": "CONTROL_SEQUENCE_END",
        "READY": "CONTROL_SEQUENCE_READY",
    }


# -- servers of their own ------------------------------------------------------------------------------


def test_stop_ends_the_process_group_and_is_idempotent(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    server = TritonServer(repository, startup_timeout_s=60)
    with server:
        pid = server.pid
        assert pid is not None and server.is_running
        workdir = server.log_path.parent
        assert _get(f"{server.url}/v2/models/classifier/ready")[0] == 200
        assert _get(f"{server.url}/v2/models/text-classification/ready")[0] != 200  # not in this repository
        # The server and its Python backend stub share the group created for the server.
        assert len(_live_group_members(pid)) >= 2
        url = server.url
    assert not server.is_running
    assert server.pid is None and server.log_path is None
    assert not workdir.exists()
    assert _live_group_members(pid) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/v2/health/live", timeout=2)
    server.stop()  # idempotent
    server.stop()
    assert not server.is_running


def test_a_stopped_server_can_start_again(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "vector-transform")
    server = TritonServer(repository, models=["vector-transform"], startup_timeout_s=60)
    try:
        first_pid = server.start().pid
        server.stop()
        second_pid = server.start().pid
        assert second_pid != first_pid
        assert _get(f"{server.url}/v2/models/vector-transform/ready")[0] == 200
    finally:
        server.stop()
    assert not server.is_running


def test_a_model_that_fails_to_load_gives_the_log_tail_and_no_process(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    broken = repository / "broken-model"
    (broken / "1").mkdir(parents=True)
    (broken / "config.pbtxt").write_text(
        'name: "broken-model"\nbackend: "python"\nmax_batch_size: 0\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
    )
    (broken / "1" / "model.py").write_text(
        "class TritonPythonModel:\n"
        "    def initialize(self, args):\n"
        "        raise RuntimeError('deliberately-broken-7f3a')\n"
    )
    server = TritonServer(repository, startup_timeout_s=60)
    started = time.monotonic()
    with pytest.raises(RuntimeError) as caught:
        server.start()
    assert time.monotonic() - started < 55, "the launcher must notice the exit, not wait for the timeout"
    assert isinstance(caught.value, TritonLaunchError)
    message = str(caught.value)
    assert "deliberately-broken-7f3a" in message
    assert "exited with code" in message
    assert "deliberately-broken-7f3a" in caught.value.log_tail
    assert not server.is_running and server.pid is None
    assert _processes_mentioning(str(repository)) == []


def test_a_bad_config_gives_the_log_tail(tmp_path: Path) -> None:
    _needs_binary()
    repository = tmp_path / "repo"
    (repository / "bad-config" / "1").mkdir(parents=True)
    (repository / "bad-config" / "config.pbtxt").write_text("this is { not protobuf text")
    server = TritonServer(repository, startup_timeout_s=60)
    with pytest.raises(TritonLaunchError) as caught:
        server.start()
    assert "bad-config" in str(caught.value)
    assert _processes_mentioning(str(repository)) == []


def test_a_model_that_never_becomes_ready_times_out_cleanly(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    server = TritonServer(repository, models=["no-such-model"], startup_timeout_s=4)
    with pytest.raises(TritonLaunchError) as caught:
        server.start()
    assert "not ready within 4 s" in str(caught.value)
    assert "no-such-model" in str(caught.value)
    assert not server.is_running
    assert _processes_mentioning(str(repository)) == []


def test_a_taken_http_port_is_a_clear_error(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = TritonServer(repository, http_port=port, startup_timeout_s=60)
        with pytest.raises(TritonLaunchError) as caught:
            server.start()
    assert "already in use" in str(caught.value)
    assert not server.is_running
    assert _processes_mentioning(str(repository)) == []


def test_picked_ports_taken_by_someone_else_are_picked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()  # accepts connections but never answers: readiness must not be fooled by it
    taken = squatter.getsockname()[1]
    real_free_ports = process_module.free_ports
    calls = []

    def race_lost_once(host: str, count: int, *, fixed_first: int | None = None) -> tuple[int, int, int]:
        calls.append(host)
        ports = real_free_ports(host, count, fixed_first=fixed_first)
        return (taken, ports[1], ports[2]) if len(calls) == 1 else ports

    monkeypatch.setattr(process_module, "free_ports", race_lost_once)
    server = TritonServer(repository, startup_timeout_s=60)
    try:
        server.start()
        assert len(calls) == 2
        assert server.http_port != taken
        assert _get(f"{server.url}/v2/models/classifier/ready")[0] == 200
    finally:
        server.stop()
        squatter.close()


def test_a_killed_owner_takes_its_server_along_and_leftovers_are_reaped(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    script = (
        "import json, sys, time\n"
        "from pyflink_triton.server.launcher import TritonServer\n"
        f"server = TritonServer({str(repository)!r}).start()\n"
        "print(json.dumps({'pid': server.pid, 'workdir': str(server.log_path.parent)}), flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        info = json.loads(owner.stdout.readline())
        server_pid, workdir = info["pid"], Path(info["workdir"])
        assert workdir.is_dir()
        owner.kill()  # SIGKILL: no atexit, no finalizer
        owner.wait()
        deadline = time.monotonic() + 30
        while _live_group_members(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _live_group_members(server_pid) == [], "the server outlived its owner"
        assert workdir.is_dir()  # nobody could clean up after a SIGKILL...
        process_module.reap_stale()  # ...so the next start does
        assert not workdir.exists()
        assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"pyflink_triton_{owner.pid}_")]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


def test_a_missing_repository_is_a_clear_error(tmp_path: Path) -> None:
    server = TritonServer(tmp_path / "does-not-exist")
    with pytest.raises(TritonLaunchError, match="is not a directory"):
        server.start()
    assert server.pid is None
    with pytest.raises(RuntimeError, match="not started"):
        server.url  # noqa: B018 - the property raises


def test_default_repository_is_the_repositorys_model_repository() -> None:
    assert TritonServer().model_repository == MODEL_REPOSITORY.resolve()


def test_missing_binary_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TritonLaunchError, match=r"pip install 'pyflink-triton\[server\]'"):
        find_tritonserver()


def test_free_ports_are_distinct_and_bindable_on_loopback() -> None:
    ports = process_module.free_ports("127.0.0.1", 3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_server_modules_import_only_the_standard_library() -> None:
    """Starting a server must never import aiohttp or pyflink: only stdlib, siblings and ..errors."""
    package_dir = Path(server_package.__file__).parent
    siblings = {path.stem for path in package_dir.glob("*.py")}
    assert {"launcher", "process", "backends", "cli"} <= siblings
    outside = {}
    for path in sorted(package_dir.glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add((node.module or "").split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                # "from . import process" names modules; "from .cli import main" names one in module.
                modules = {node.module} if node.module else {alias.name for alias in node.names}
                imported.update(f".{m}" for m in modules if m.split(".")[0] not in siblings)
            elif isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
        allowed = set(sys.stdlib_module_names) | {"__future__", "..errors"}
        if imported - allowed:
            outside[path.name] = imported - allowed
    assert outside == {}


def test_public_names_are_reachable_where_callers_look() -> None:
    # pyflink_triton/cli.py calls server.main(...) and imports server.TritonServer. The command
    # line (server/cli.py) imports the launcher, never the other way round: no import cycle.
    assert cli_module.main is server_package.main
    assert not hasattr(launcher_module, "main") and cli_module.TritonServer is launcher_module.TritonServer
    assert launcher_module.TritonServer is server_package.TritonServer
    assert launcher_module.find_tritonserver is backends_module.find_tritonserver is find_tritonserver
    assert launcher_module.TritonLaunchError is TritonLaunchError
    assert launcher_module.default_model_repository is server_package.default_model_repository
    for name in server_package.__all__:
        assert hasattr(server_package, name), name


def test_command_line_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyflink_triton.server", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m pyflink_triton.server")
    for option in ("--model-repository", "--port", "--models", "--startup-timeout", "--log-verbose"):
        assert option in result.stdout


def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    _needs_binary()
    repository = _small_repository(tmp_path, "classifier")
    process = subprocess.Popen(
        [sys.executable, "-m", "pyflink_triton.server", "--model-repository", str(repository)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the server is ready (or the CLI failed)
        assert first.startswith("Triton is serving at http://127.0.0.1:"), first + process.stderr.read()
        info = json.loads(process.stdout.readline())
        assert info["models"] == ["classifier"]
        assert _get(f"{info['url']}/v2/models/classifier/ready")[0] == 200
        server_pid = info["pid"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(server_pid, 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
