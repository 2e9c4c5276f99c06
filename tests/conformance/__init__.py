"""Fake-versus-real conformance of the fake host's ``openzfs`` flavour (issue #11, deliverable 4).

:mod:`tests.conformance.script` is one script of ``zfs``/``zpool`` commands run the same way on a
:class:`~pyzfsnas.testing.fake.FakeExecutor` and on the real OpenZFS guest; outputs are compared modulo
volatile fields. ``python -m tests.conformance capture`` records the guest's outputs as fixtures under
``tests/fixtures/openzfs-2.3/conformance/``.
"""
