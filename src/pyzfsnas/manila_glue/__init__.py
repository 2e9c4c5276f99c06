"""OpenStack Manila share driver built on pyzfsnas (``pip install pyzfsnas[manila]``).

Point ``share_driver`` in ``manila.conf`` at
``pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver``: every option of Manila's own ZFSonLinux driver keeps
its name and meaning (see :mod:`pyzfsnas.manila_glue.options`).
"""

from __future__ import annotations

try:
    import manila.share.driver  # noqa: F401  (probe: the glue is useless without Manila)
except ImportError as exc:  # pragma: no cover - exercised in an environment without manila
    raise ImportError(
        "pyzfsnas.manila_glue needs the OpenStack 'manila' package, which is not installed; "
        "install it with: pip install 'pyzfsnas[manila]'"
    ) from exc

__all__ = ["ZFSonLinuxShareDriver"]


def __getattr__(name: str) -> object:
    # The driver module pulls in much of manila; load it only when asked for.
    if name == "ZFSonLinuxShareDriver":
        from pyzfsnas.manila_glue.driver import ZFSonLinuxShareDriver

        return ZFSonLinuxShareDriver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
