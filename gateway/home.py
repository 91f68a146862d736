"""The state folder ($MANGALM_HOME): made reachable by the processes that must use it, and the
web files nginx serves published into it.

As root, two unprivileged OS users work inside the state folder: the cluster's (`postgres`,
PostgreSQL refuses root) and nginx's workers (`nobody`). Both must be able to traverse every
parent of it. A checkout under /root (mode 0700) or in a `mktemp -d` folder (0700) is not
traversable, so as root the default state folder lives under /var/lib/mangalm (config.state_dir),
and the dashboard's files are copied into the state folder (www/) rather than served from the
checkout or from site-packages, wherever those are.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from .config import CLUSTER_OS_USER, ROOT, Settings, state_dir

# nginx's workers drop to this user when the master runs as root.
NGINX_WORKER_USER = "nobody"


class HomeError(RuntimeError):
    """A state folder the stack cannot use; the message says how to fix it."""


def www_dir(settings: Settings) -> Path:
    return settings.home / "www"


def _blocking_parent(path: Path, user: str) -> Path | None:
    """The first folder on the way to `path` that `user` may not traverse (owner, group and
    other bits; no ACLs), or None."""
    entry = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, entry.pw_gid))
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            break
        st = folder.stat()
        if st.st_uid == entry.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return folder
    return None


def _can_traverse(path: Path, user: str) -> bool:
    return subprocess.run(["test", "-x", str(path)], user=user, capture_output=True).returncode == 0


def prepare(settings: Settings) -> None:
    """Create the state folder (mode 0755: its secrets and pgdata have their own 0700) and, as
    root, check that nginx's workers and (embedded mode) the cluster's user can reach it."""
    home = settings.home
    missing = [folder for folder in (*reversed(home.parents), home) if not folder.exists()]
    for folder in missing:
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o755)  # whatever the umask: the other OS users must pass through
    if os.geteuid() != 0:
        return
    users = [(NGINX_WORKER_USER, "runs nginx's workers")]
    if settings.embedded:
        users.insert(0, (CLUSTER_OS_USER, "runs the PostgreSQL cluster"))
    for user, role in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue  # cluster.py and nginx.py name a missing user with their own fix
        if _can_traverse(home, user):
            continue
        closed = _blocking_parent(home, user)
        where = f"{closed} (mode {stat.S_IMODE(closed.stat().st_mode):o}) is closed to it" if closed else "it is closed"
        fix = (f"unset MANGALM_HOME to use the default {state_dir()}" if os.environ.get("MANGALM_HOME")
               else "set MANGALM_HOME to a folder under /var/lib or /srv")
        raise HomeError(f"the state folder {home} is out of reach of the OS user {user!r}, which {role}: "
                        f"{where}. Fix: {fix}, or open the way with chmod o+x on the closed folder.")


def _web_sources() -> list[tuple[Path, str]]:
    """(source folder, place under www/) for every file the front door serves."""
    return [(ROOT / "dashboard" / "public", "."), (ROOT / "gateway" / "docs", "docs")]


def publish_web(settings: Settings) -> Path:
    """Copy the dashboard and /docs files into www/ (a fresh copy at every start, swapped in
    whole, so a changed file is never half-served); readable by nginx's workers. Returns it."""
    target = www_dir(settings)
    staging = target.with_name("www.new")
    shutil.rmtree(staging, ignore_errors=True)
    for source, place in _web_sources():
        if not source.is_dir():
            raise HomeError(f"the web files are missing: {source} (a broken installation; reinstall mangalm)")
        shutil.copytree(source, staging / place, dirs_exist_ok=True)
    for folder, dirs, files in os.walk(staging):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    old = target.with_name("www.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
