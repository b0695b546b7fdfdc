#!/usr/bin/env python3
"""Manifest-driven smoke test of the deployment files, on this machine.

For each rendered Kubernetes overlay, and for compose.yaml, it first checks the rules
every Bazaar service keeps there (every service present, probes, memory, non-root,
read-only root, a drain that fits the grace period), then runs every service as the
engine would: as many replicas as the files ask for (at most two), all at once, each
with its command and the environment the files give it. Service URLs are mapped to the
replicas' localhost ports, PostgreSQL URLs to throwaway databases on the local server,
the broker to a throwaway RabbitMQ vhost, and mounted volumes to scratch directories. It
waits for every probe to answer 200, checks that the queues the consumers declared are
exactly the broker definitions file, stops everything with SIGTERM and checks that each
process exits 0 within its grace period. What it made (processes, databases, the vhost,
directories) is removed at the end, also on failure or interruption.

    deploy/smoke.py --binary target/release/bazaar --compose deploy/compose.yaml \\
        rendered-dev.yaml rendered-production.yaml
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

MAX_REPLICAS = 2
MEMORY_REQUEST_CEILING = 64 * 2**20
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
HERE = Path(__file__).resolve().parent



def shutdown_seconds(env: dict) -> float:
    """The longest a service takes to stop after SIGTERM: it keeps serving, not ready, for
    the drain delay, then BAZAAR_SHUTDOWN_GRACE_MS bounds its requests and workers
    together, the workers getting at least 1 s (crates/platform/src/service.rs)."""
    delay = int(env.get("BAZAAR_DRAIN_DELAY_MS", 2_000)) / 1000
    grace = int(env.get("BAZAAR_SHUTDOWN_GRACE_MS", 17_000)) / 1000
    return delay + grace + 1

class Failed(Exception):
    """The deployment files or the services did not pass."""


def quantity(text: str | int) -> int:
    """Bytes in a Kubernetes memory quantity (`64Mi`, `128M`, `1048576`)."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", str(text))
    if not m:
        raise Failed(f"`{text}` is not a memory quantity this check understands")
    return int(m.group(1)) * UNITS.get(m.group(2) or "", 1)


def seconds(text: str | int | float) -> float:
    """Seconds in a compose duration (`25s`, `1m30s`) or a number."""
    if isinstance(text, (int, float)):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Failed(f"`{text}` is not a duration this check understands")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


class Ports:
    """Distinct free localhost ports. Each stays bound until `release`, so the kernel
    cannot hand the same port out twice while a run is being planned (a port bound and
    closed at once can come back from the very next bind)."""

    def __init__(self) -> None:
        self.held: list[socket.socket] = []

    def take(self) -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.held.append(s)
        return s.getsockname()[1]

    def release(self) -> None:
        for s in self.held:
            s.close()
        self.held.clear()


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        detail = done.stderr.strip() or done.stdout.strip()
        raise Failed(f"`{' '.join(cmd)}` exited with {done.returncode}: {detail}")
    return done


@dataclass
class Workload:
    """One service as a deployment file describes it, before it is mapped onto this machine."""

    service: str
    replicas: int
    args: list[str]
    env: dict[str, str]
    mounts: dict[str, str]  # mount path -> volume name
    probes: list[tuple[str, int]]  # (path, port) of each HTTP probe
    grace: float  # seconds the process has between SIGTERM and the kill


@dataclass
class Deployment:
    """What one file set deploys: its workloads and the addresses they reach each other at."""

    label: str
    workloads: list[Workload]
    addresses: dict[tuple[str, int], str]  # (host name, port) -> the service behind it


# --- Kubernetes --------------------------------------------------------------------------


class Manifests:
    """One rendered overlay."""

    def __init__(self, path: Path):
        self.path = path
        self.by_kind: dict[str, dict[str, dict]] = {}
        for d in yaml.safe_load_all(path.read_text()):
            if d:
                self.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def get(self, kind: str, name: str) -> dict | None:
        return self.by_kind.get(kind, {}).get(name)

    def all(self, kind: str) -> dict[str, dict]:
        return self.by_kind.get(kind, {})

    def bazaar(self) -> dict[str, tuple[dict, dict]]:
        """(Deployment, container) of each `bazaar serve <service>`, by service."""
        out = {}
        for d in self.all("Deployment").values():
            for c in d["spec"]["template"]["spec"]["containers"]:
                args = c.get("args", [])
                if len(args) == 2 and args[0] == "serve":
                    out[args[1]] = (d, c)
        return out

    def secret(self, name: str) -> dict[str, str] | None:
        s = self.get("Secret", name)
        if s is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
        data.update(s.get("stringData") or {})
        return data

    def config_map(self, name: str) -> dict[str, str]:
        cm = self.get("ConfigMap", name)
        if cm is None:
            raise Failed(f"ConfigMap {name} is referenced but not rendered")
        return cm.get("data") or {}

    def env(self, c: dict, fallback_secrets: dict[str, str] | None) -> dict[str, str]:
        """The container's environment as Kubernetes builds it: envFrom, then env in order
        with `$(VAR)` expanded. Secrets the overlay does not render (production's, made by
        the operator) come from `fallback_secrets`; with None every key reads as empty."""
        env: dict[str, str] = {}

        def from_secret(name: str, key: str) -> str:
            source = self.secret(name)
            if source is None:
                source = fallback_secrets if fallback_secrets is not None else {key: ""}
            if key not in source:
                raise Failed(f"Secret {name} has no key {key}")
            return source[key]

        for source in c.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self.config_map(source["configMapRef"]["name"]))
            else:
                env.update(self.secret(source["secretRef"]["name"]) or fallback_secrets or {})
        for var in c.get("env", []):
            ref = var.get("valueFrom", {})
            if "value" in var:
                value = re.sub(r"\$\((\w+)\)", lambda g: env.get(g.group(1), g.group(0)), var["value"])
            elif "secretKeyRef" in ref:
                value = from_secret(ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
            elif "configMapKeyRef" in ref:
                value = self.config_map(ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
            else:
                raise Failed(f"env {var['name']} has a source this check does not know")
            env[var["name"]] = value
        return env

    def replicas(self, name: str, deployment: dict) -> int:
        for hpa in self.all("HorizontalPodAutoscaler").values():
            target = hpa["spec"]["scaleTargetRef"]
            if target["kind"] == "Deployment" and target["name"] == name:
                return hpa["spec"].get("minReplicas", 1)
        return deployment["spec"].get("replicas", 1)

    def check(self, services: list[str]) -> None:
        """The rules every overlay keeps; all that are broken are reported at once."""
        problems = []
        bazaar = self.bazaar()
        for svc in services:
            if svc not in bazaar:
                problems.append(f"no Deployment runs `bazaar serve {svc}`")
                continue
            service = self.get("Service", svc)
            if service is None or service["spec"].get("clusterIP") != "None":
                problems.append(f"{svc}: no headless Service named {svc}")
            for kind in ("PodDisruptionBudget", "NetworkPolicy"):
                if self.get(kind, svc) is None:
                    problems.append(f"{svc}: no {kind}")
        for svc, (d, c) in bazaar.items():
            pod = d["spec"]["template"]["spec"]
            res = c.get("resources", {})
            request = res.get("requests", {}).get("memory")
            limit = res.get("limits", {}).get("memory")
            if request is None or quantity(request) > MEMORY_REQUEST_CEILING:
                problems.append(f"{svc}: memory request {request} is missing or above 64Mi")
            if limit is None or (request and quantity(limit) < quantity(request)):
                problems.append(f"{svc}: memory limit {limit} is missing or below the request")
            sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
            if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                problems.append(f"{svc}: not runAsNonRoot")
            if not sc.get("readOnlyRootFilesystem"):
                problems.append(f"{svc}: the root file system is writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{svc}: privilege escalation is not ruled out")
            # The gateway's readiness is its own liveness: its /health/ready also says
            # whether every upstream is, and one service down must not take every
            # gateway pod (and so the whole shop) out of its Service.
            ready = "/health/live" if svc == "gateway" else "/health/ready"
            for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", ready)):
                if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                    problems.append(f"{svc}: {probe} does not check {path}")
            if c["image"] == "bazaar":
                problems.append(f"{svc}: the image is not set (kustomize images:)")
            pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            grace = pod.get("terminationGracePeriodSeconds", 30)
            drain = shutdown_seconds(self.env(c, None))
            if pre_stop <= 0:
                problems.append(f"{svc}: no preStop sleep to let endpoints drop the pod first")
            if pre_stop + drain >= grace:
                problems.append(
                    f"{svc}: preStop {pre_stop}s + shutdown {drain}s does not fit "
                    f"terminationGracePeriodSeconds {grace}s"
                )
        if problems:
            raise Failed(f"{self.path.name}:\n  " + "\n  ".join(problems))

    def deployment(self, fallback_secrets: dict[str, str]) -> Deployment:
        workloads = []
        for svc, (d, c) in self.bazaar().items():
            named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            probes = []
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = c.get(kind, {}).get("httpGet")
                if get:
                    probes.append((get["path"], named.get(get["port"], get["port"])))
            pod = d["spec"]["template"]["spec"]
            pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            workloads.append(Workload(
                service=svc,
                replicas=self.replicas(d["metadata"]["name"], d),
                args=c.get("args", []),
                env=self.env(c, fallback_secrets),
                mounts={v["mountPath"]: v["name"] for v in c.get("volumeMounts", [])},
                probes=probes,
                grace=pod.get("terminationGracePeriodSeconds", 30) - pre_stop,
            ))
        by_label = {
            d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name"): svc
            for svc, (d, _) in self.bazaar().items()
        }
        addresses = {}
        for s in self.all("Service").values():
            target = by_label.get(s["spec"].get("selector", {}).get("app.kubernetes.io/name"))
            if target:
                for p in s["spec"]["ports"]:
                    addresses[(s["metadata"]["name"], p["port"])] = target
        return Deployment(self.path.name, workloads, addresses)


# --- Compose -----------------------------------------------------------------------------


class Compose:
    """compose.yaml, with its variables taken from an env file (.env.example)."""

    def __init__(self, path: Path, env_file: Path):
        self.path = path
        self.vars = {}
        for line in env_file.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                self.vars[key.strip()] = value
        self.doc = yaml.safe_load(self.interpolate(path.read_text()))

    def interpolate(self, text: str) -> str:
        """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` and `$$`."""
        def one(m: re.Match) -> str:
            if m.group(0) == "$$":
                return "$"
            name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
            value = self.vars.get(name)
            if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
                return arg
            if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
                raise Failed(f"{self.path.name} needs {name}, which the env file does not set: {arg}")
            return value or ""
        return re.sub(r"\$\$|\$\{(\w+)(:?[-?])?([^}]*)\}", one, text)

    def bazaar(self) -> dict[str, dict]:
        return {
            spec["command"][1]: spec
            for spec in self.doc["services"].values()
            if isinstance(spec.get("command"), list) and spec["command"][:1] == ["serve"]
        }

    def check(self, services: list[str]) -> None:
        problems = []
        bazaar = self.bazaar()
        for svc in services:
            if svc not in bazaar:
                problems.append(f"no service runs `bazaar serve {svc}`")
        for svc, spec in bazaar.items():
            if not spec.get("healthcheck", {}).get("test"):
                problems.append(f"{svc}: no healthcheck")
            if not spec.get("read_only"):
                problems.append(f"{svc}: the root file system is writable")
            if str(spec.get("user", "0")).split(":")[0] in ("0", "root"):
                problems.append(f"{svc}: runs as root")
            drain = shutdown_seconds(spec.get("environment", {}))
            if drain >= seconds(spec.get("stop_grace_period", "10s")):
                problems.append(f"{svc}: the drain does not fit stop_grace_period")
        if problems:
            raise Failed(f"{self.path.name}:\n  " + "\n  ".join(problems))

    def deployment(self) -> Deployment:
        workloads, addresses = [], {}
        for name, spec in self.doc["services"].items():
            if spec.get("command", [None])[:1] != ["serve"]:
                continue
            svc = spec["command"][1]
            env = {k: str(v) for k, v in (spec.get("environment") or {}).items()}
            listen = int(env.get("BAZAAR_LISTEN", ":0").rsplit(":", 1)[1])
            addresses[(name, listen)] = svc
            url = urlsplit(spec["healthcheck"]["test"][-1])
            mounts = {}
            for v in spec.get("volumes", []):
                # `source:target[:mode]`, or a bare target: an anonymous volume, the
                # container's own.
                source, target = v.split(":")[:2] if ":" in v else (f"{name}-own{v}", v)
                mounts[target] = re.sub(r"\W", "-", source)
            for t in spec.get("tmpfs", []):
                mounts[t] = "tmpfs" + re.sub(r"\W", "-", t)
            workloads.append(Workload(
                service=svc,
                replicas=1,
                args=spec["command"],
                env=env,
                mounts=mounts,
                probes=[(url.path, url.port or 80)],
                grace=seconds(spec.get("stop_grace_period", "10s")),
            ))
        return Deployment(self.path.name, workloads, addresses)


# --- running on this machine -------------------------------------------------------------


@dataclass
class Replica:
    service: str
    index: int
    port: int
    workdir: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    probes: list[str] = field(default_factory=list)
    grace: float = 10
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"


class Smoke:
    """Runs one deployment's services on this machine and cleans up after them."""

    def __init__(self, deployment: Deployment, args: argparse.Namespace):
        self.d, self.args = deployment, args
        self.run_id = uuid.uuid4().hex[:10]
        self.scratch = Path(tempfile.mkdtemp(prefix=f"bazaar-smoke-{self.run_id}-"))
        self.databases: set[str] = set()
        self.vhost: str | None = None
        self.replicas: list[Replica] = []
        self.ports = Ports()

    @staticmethod
    def map_url(value: str, ports: dict[tuple[str, int], int]) -> str:
        """URLs of a service's address to the local port of its first replica;
        comma-separated lists too. A URL with a port nobody listens on is left alone
        (and fails)."""
        def one(url: str) -> str:
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https"):
                return url
            key = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            if key in ports:
                return urlunsplit(("http", f"127.0.0.1:{ports[key]}", parts.path, parts.query, ""))
            return url
        return ",".join(one(u) for u in value.split(","))

    def map_database(self, url: str) -> str:
        if not url.startswith(("postgres://", "postgresql://")):
            return url
        name = urlsplit(url).path.lstrip("/")
        db = f"smoke_{self.run_id}_{name}"[:63]
        self.databases.add(db)
        return f"{self.args.postgres.rstrip('/')}/{db}"

    def map_broker(self, url: str) -> str:
        if not url.startswith(("amqp://", "amqps://")):
            return url
        if self.vhost is None:
            self.vhost = f"bazaar-smoke-{self.run_id}"
            run(["rabbitmqctl", "-q", "add_vhost", self.vhost])
            user = urlsplit(self.args.amqp).username or "guest"
            run(["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, user, ".*", ".*", ".*"])
        return f"{self.args.amqp.rstrip('/')}/{self.vhost}"

    def plan(self) -> None:
        first_port: dict[str, int] = {}
        free_port = self.ports.take
        for w in self.d.workloads:
            for i in range(min(w.replicas, MAX_REPLICAS)):
                r = Replica(w.service, i, free_port(), self.scratch / f"{w.service}-{i}")
                r.workdir.mkdir()
                self.replicas.append(r)
                first_port.setdefault(w.service, r.port)
        ports = {addr: first_port[svc] for addr, svc in self.d.addresses.items()}
        by_service = {w.service: w for w in self.d.workloads}
        for r in self.replicas:
            w = by_service[r.service]
            listen = int(w.env.get("BAZAAR_LISTEN", ":0").rsplit(":", 1)[1])
            for path, port in w.probes:
                if port != listen:
                    raise Failed(f"{w.service}: a probe asks port {port}, but BAZAAR_LISTEN is port {listen}")
            scratch = {path: str(r.workdir / name) for path, name in w.mounts.items()}
            for path in scratch.values():
                Path(path).mkdir(exist_ok=True)
            # Paths under a mount, in one pass so that a replaced path is not replaced again.
            under_mount = re.compile(
                "(" + "|".join(re.escape(p) for p in sorted(scratch, key=len, reverse=True)) + r")(?=/|\?|$)"
            ) if scratch else None
            env = {}
            for key, value in w.env.items():
                if under_mount:
                    value = under_mount.sub(lambda g: scratch[g.group(1)], value)
                value = self.map_url(value, ports)
                if key == "BAZAAR_DATABASE_URL":
                    value = self.map_database(value)
                if key == "BAZAAR_BROKER":
                    value = self.map_broker(value)
                env[key] = value
            env["BAZAAR_LISTEN"] = f"127.0.0.1:{r.port}"
            env["TMPDIR"] = scratch.get("/tmp", str(r.workdir))
            env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
            r.env, r.args, r.grace = env, w.args, w.grace
            r.probes = [f"http://127.0.0.1:{r.port}{path}" for path, _ in w.probes]

    def start(self) -> None:
        self.ports.release()
        for r in self.replicas:
            r.log = r.workdir / "log"
            with open(r.log, "wb") as log:
                r.proc = subprocess.Popen(
                    [self.args.binary, *r.args],
                    cwd=r.workdir,
                    env=r.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def wait_for_probes(self) -> float:
        started = time.monotonic()
        deadline = started + self.args.timeout
        pending = {(r.name, url): r for r in self.replicas for url in r.probes}
        while pending:
            for (name, url), r in list(pending.items()):
                if r.proc.poll() is not None:
                    raise Failed(f"{name} exited with {r.proc.returncode} before its probes answered")
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            del pending[(name, url)]
                except (urllib.error.URLError, OSError):
                    pass
            if pending and time.monotonic() > deadline:
                late = sorted({f"{n} {u.split('/', 3)[-1]}" for n, u in pending})
                raise Failed(f"probes still failing after {self.args.timeout:.0f}s: {', '.join(late)}")
            time.sleep(0.25)
        return time.monotonic() - started

    def check_topology(self) -> None:
        """The consumers, left to declare their own topology on an empty vhost, declared
        exactly what the definitions file holds, arguments and all: so the file, imported
        before the shop's first start, holds every queue they need, and none of their
        declarations is refused as inequivalent (which would leave a consumer retrying
        forever while its service reports ready)."""
        if self.vhost is None:
            return

        def shape(defs: dict, vhost: str | None) -> set:
            def keep(item: dict) -> bool:
                return vhost is None or item.get("vhost") == vhost
            return (
                {("exchange", e["name"], e["type"]) for e in defs.get("exchanges", []) if keep(e)}
                | {("queue", q["name"], json.dumps(q.get("arguments", {}), sort_keys=True))
                   for q in defs.get("queues", []) if keep(q)}
                | {("binding", b["source"], b["destination"], b["routing_key"],
                    json.dumps(b.get("arguments", {}), sort_keys=True))
                   for b in defs.get("bindings", []) if keep(b)}
            )

        expected = shape(json.loads(Path(self.args.broker_definitions).read_text()), None)
        # Consumers declare their queues in the background, perhaps after turning ready.
        deadline = time.monotonic() + 30
        while True:
            out = run(["rabbitmqctl", "-q", "export_definitions", "-", "--format", "json"]).stdout
            got = shape(json.loads(out[out.index("{"):]), self.vhost)
            if got == expected or time.monotonic() > deadline:
                break
            time.sleep(1)
        if got != expected:
            raise Failed(
                "the broker's topology differs from the definitions file:\n"
                f"  declared by the services only: {sorted(got - expected)}\n"
                f"  in the file only: {sorted(expected - got)}"
            )

    def stop(self) -> list[str]:
        """SIGTERM, as the engine sends it; each must exit 0 within its grace period."""
        problems = []
        for r in self.replicas:
            if r.proc and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        for r in self.replicas:
            if r.proc is None:
                continue
            try:
                code = r.proc.wait(timeout=max(0.1, sent + r.grace - time.monotonic()))
                if code != 0:
                    problems.append(f"{r.name} exited with {code} on SIGTERM")
            except subprocess.TimeoutExpired:
                os.killpg(r.proc.pid, signal.SIGKILL)
                r.proc.wait()
                problems.append(f"{r.name} did not exit within {r.grace:.0f}s of SIGTERM")
        return problems

    def cleanup(self) -> None:
        self.ports.release()
        for r in self.replicas:
            if r.proc and r.proc.poll() is None:
                os.killpg(r.proc.pid, signal.SIGKILL)
                r.proc.wait()
        admin = f"{self.args.postgres.rstrip('/')}/postgres"
        for db in sorted(self.databases):
            subprocess.run(
                ["psql", admin, "-qAtc", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
                capture_output=True, timeout=60,
            )
        if self.vhost:
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], capture_output=True, timeout=60)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def logs(self, lines: int = 15) -> str:
        out = []
        for r in self.replicas:
            if r.log and r.log.exists():
                tail = r.log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {r.name} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def run(self) -> None:
        try:
            self.plan()
            self.start()
            took = self.wait_for_probes()
            self.check_topology()
            problems = self.stop()
            if problems:
                raise Failed("; ".join(problems))
            print(
                f"smoke: {self.d.label}: {len(self.replicas)} processes of "
                f"{len(self.d.workloads)} services answered every probe in {took:.1f}s "
                f"and stopped cleanly on SIGTERM",
                flush=True,
            )
        except (Failed, OSError) as e:
            raise Failed(f"{self.d.label}: {e}\n{self.logs()}") from None
        finally:
            self.cleanup()


def served_services(binary: str) -> list[str]:
    """The services `bazaar serve` accepts, from its own help."""
    out = run([binary, "serve", "--help"]).stdout
    m = re.search(r"\[possible values: ([^\]]+)\]", out)
    if not m:
        raise Failed("could not read the service list from `bazaar serve --help`")
    return [s.strip() for s in m.group(1).split(",")]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rendered", nargs="*", type=Path, help="rendered Kubernetes manifests, one file per overlay")
    p.add_argument("--compose", type=Path, help="a compose file to run too")
    p.add_argument("--compose-env", type=Path, default=HERE / ".env.example",
                   help="the variables the compose file is read with")
    p.add_argument("--binary", default="target/release/bazaar")
    p.add_argument("--postgres", default=os.environ.get("BAZAAR_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"))
    p.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672", help="a RabbitMQ server, without a vhost")
    p.add_argument("--broker-definitions", default=str(HERE / "k8s/backends/rabbitmq/definitions.json"))
    p.add_argument("--timeout", type=float, default=120, help="seconds for every probe to answer")
    p.add_argument("--rules-only", action="store_true", help="check the rules, start nothing")
    args = p.parse_args()
    # The services run in scratch directories of their own.
    args.binary = str(Path(args.binary).resolve())

    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so that the cleanup runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        services = served_services(args.binary)
        # What an operator would create: the URLs are mapped onto this machine anyway.
        operator_secrets = {
            "service-secret": uuid.uuid4().hex,
            "admin-email": "smoke@example.com",
            "admin-password": f"correct horse battery staple {uuid.uuid4().hex[:8]}",
            "broker-url": "amqp://placeholder",
            **{f"{s}-database-url": f"postgres://placeholder/bazaar_{s}" for s in services},
        }
        deployments = []
        for path in args.rendered:
            m = Manifests(path)
            m.check(services)
            deployments.append(m.deployment(operator_secrets))
        if args.compose:
            c = Compose(args.compose, args.compose_env)
            c.check(services)
            deployments.append(c.deployment())
        print(f"smoke: rules hold in {', '.join(d.label for d in deployments)}", flush=True)
        if not args.rules_only:
            for d in deployments:
                Smoke(d, args).run()
    except Failed as e:
        print(f"smoke: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
