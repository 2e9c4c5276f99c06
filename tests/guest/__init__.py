"""The OpenZFS test guest: image builder (``build-image.sh``) and QEMU runner (:mod:`tests.guest.vm`)."""
