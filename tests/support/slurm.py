"""A real single-node Slurm for the tests (Debian's slurm-wlm, installed by .ci/run):
munged, slurmctld and slurmd started by pid with all their state in one folder, two fake
GPUs (character devices) for --gres. Clients find it through SLURM_CONF."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")


def available() -> bool:
    return all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in DAEMONS) and \
        shutil.which("sbatch") is not None and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _daemon(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class LocalSlurm:
    def __init__(self, root: Path, cpus: int = 4, gpus: int = 2) -> None:
        self.root = root
        self.cpus = cpus
        self.gpus = gpus
        self.conf = root / "slurm.conf"
        self.pids: dict[str, Path] = {d: root / f"{d}.pid" for d in DAEMONS}

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _write(self) -> None:
        r = self.root
        for sub in ("state", "spool", "munge"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        devices = []
        for i in range(self.gpus):
            dev = r / f"nvidia{i}"
            if not dev.exists():
                os.mknod(dev, 0o666 | 0o020000, os.makedev(195, i))
            devices.append(str(dev))
        (r / "gres.conf").write_text("".join(f"NodeName=localhost Name=gpu File={d}\n"
                                             for d in devices))
        node = (f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=16000 "
                f"Gres=gpu:{self.gpus} State=UNKNOWN")
        self.conf.write_text(f"""\
ClusterName=internpipe
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge/munge.socket
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={self.pids['slurmctld']}
SlurmdPidFile={self.pids['slurmd']}
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={r}/jobcomp.txt
SlurmdParameters=config_overrides
GresTypes=gpu
MpiDefault=none
ReturnToService=2
KillWait=2
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
{node}
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")

    def start(self, timeout: float = 60) -> LocalSlurm:
        self._write()
        r = self.root
        env = {**os.environ, **self.env}
        subprocess.run([_daemon("munged"), "--force", "-S", f"{r}/munge/munge.socket",
                        "--key-file", f"{r}/munge/munge.key",
                        "--pid-file", str(self.pids["munged"]),
                        "--log-file", f"{r}/munge/munged.log",
                        "--seed-file", f"{r}/munge/munged.seed"], check=True, env=env)
        subprocess.run([_daemon("slurmctld"), "-f", str(self.conf)], check=True, env=env)
        subprocess.run([_daemon("slurmd"), "-f", str(self.conf), "-N", "localhost"],
                       check=True, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                   text=True, env=env).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"slurm did not come up (sinfo: {state!r}); see {r}")

    def stop(self) -> None:
        for name in reversed(DAEMONS):
            pidfile = self.pids[name]
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().split()[0])
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
