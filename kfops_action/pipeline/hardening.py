"""Keep the kfops process's memory out of reach of the pipeline code it compiles (Linux).

The child that imports a pull request's pipeline.py gets no secrets in its environment, but as
the same user it could still read them from the parent: `/proc/<parent>/environ` (the
environment kfops started with, whatever kfops later removes from os.environ) and
`/proc/<parent>/mem`. The kernel refuses both once the parent is not "dumpable", unless the
reader holds a capability that overrides it (CAP_SYS_PTRACE, and on some kernels CAP_SYS_ADMIN
or CAP_PERFMON), which a root child (the Docker action runs as root) may hold. So the child
gives up every capability, for good, before it imports anything from the pull request: a compile
needs none, and a capability-less root can no longer read other users' private files either.

Best effort by design: elsewhere than Linux, or where prctl is refused, nothing changes and the
allow-listed environment remains the boundary (docs/security.md says what it does not cover).
"""

from __future__ import annotations

import ctypes
import sys

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LAST_CAP = 63
_CAP_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def make_undumpable() -> bool:
    """Parent side: no core dumps, and /proc/<this pid>/{environ,mem} closed to other processes
    of this user. Kept for the rest of the process: a child that outlived its compile (it
    detached) must not find the door open later."""
    libc = _libc()
    return bool(libc is not None and libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)


def drop_capabilities() -> None:
    """Child side, before user code: an empty bounding set (exec cannot give root its
    capabilities back), no ambient, effective, permitted or inheritable capability, and no new
    privileges through setuid programs. Each step that the kernel refuses was not held anyway."""
    libc = _libc()
    if libc is None:
        return
    for cap in range(LAST_CAP + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last, EPERM without CAP_SETPCAP
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.capset(ctypes.byref(_CapHeader(_CAP_VERSION_3, 0)), (_CapData * 2)())
