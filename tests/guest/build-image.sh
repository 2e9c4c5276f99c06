#!/usr/bin/env bash
# Build the OpenZFS test guest (Debian 12 + OpenZFS from Debian's zfs-dkms + kernel nfsd + sshd), or reuse it.
#
#   bash tests/guest/build-image.sh            # prints the image directory on its last line
#
# Inputs (each is part of the cache key, with this script's own text):
#   PYZFSNAS_GUEST_ZFS_SUITE  bookworm-backports (default: OpenZFS 2.3.x) or bookworm (OpenZFS 2.1.x)
#   PYZFSNAS_GUEST_MIRROR     Debian mirror (default: the first one in this machine's apt sources)
# Output: $PYZFSNAS_GUEST_CACHE (default /var/cache/pyzfsnas/guest)/<suite>-<key>/ holding root.raw (ext4 root
# filesystem), vmlinuz, initrd.img, id_ed25519 (root's login key), ssh_host_ed25519_key.pub, zfs-version and
# ready (written last). Needs root, debootstrap, e2fsprogs, ssh-keygen and the Debian mirror; nothing else.
# The guest itself never reaches a network: tests/guest/vm.py boots it with QEMU user networking, restrict=on.
set -euo pipefail

SUITE=${PYZFSNAS_GUEST_ZFS_SUITE:-bookworm-backports}
case $SUITE in bookworm | bookworm-backports) ;; *) echo "unsupported PYZFSNAS_GUEST_ZFS_SUITE=$SUITE" >&2; exit 2 ;; esac
CACHE_ROOT=${PYZFSNAS_GUEST_CACHE:-/var/cache/pyzfsnas/guest}
mirror_from_sources() {
    { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
      grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } \
        | grep -E '/debian/?$' | head -n 1 || true
}
MIRROR=${PYZFSNAS_GUEST_MIRROR:-$(mirror_from_sources)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# The key covers what ends up in the image: the recipe (everything below the '== recipe ==' line), the suite
# and the mirror; edits above that line (cache handling) keep the cached image.
KEY=$( { sed -n '/^# == recipe ==/,$p' "$0"; echo "$SUITE"; echo "$MIRROR"; } | sha256sum | cut -c1-12)
OUT=$CACHE_ROOT/$SUITE-$KEY

if [[ -f $OUT/ready ]]; then
    echo "cached guest image: $(cat "$OUT/zfs-version")" >&2
    echo "$OUT"
    exit 0
fi
if [[ -n ${PYZFSNAS_GUEST_CACHED_ONLY:-} ]]; then
    echo "no cached image for $SUITE in $CACHE_ROOT (build it: bash $0)" >&2
    exit 4
fi
[[ $(id -u) -eq 0 ]] || { echo "building the guest needs root" >&2; exit 3; }
for tool in debootstrap mkfs.ext4 ssh-keygen chroot; do
    command -v "$tool" >/dev/null || { echo "building the guest needs $tool" >&2; exit 3; }
done

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.build.lock"
flock 9  # one build at a time; a concurrent caller waits and then finds the image ready
if [[ -f $OUT/ready ]]; then echo "$OUT"; exit 0; fi

# == recipe ==
START=$SECONDS
step() { printf '[guest build +%ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
WORK=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
ROOT=$WORK/root
cleanup() {
    for m in dev/pts dev proc sys; do umount -l "$ROOT/$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

step "debootstrap bookworm (minbase, main+contrib) from $MIRROR"
debootstrap --variant=minbase --components=main,contrib \
    --include=systemd-sysv,udev,dbus,openssh-server,iproute2,kmod,procps,ca-certificates \
    bookworm "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

cat >"$ROOT/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main contrib
deb $MIRROR bookworm-updates main contrib
SOURCES
if [[ $SUITE == bookworm-backports ]]; then
    echo "deb $MIRROR bookworm-backports main contrib" >>"$ROOT/etc/apt/sources.list"
fi
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
APT=(apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends)

step "kernel, headers, nfs server and client"
in_root apt-get -q update >"$WORK/apt.log" 2>&1
in_root "${APT[@]}" install linux-image-amd64 linux-headers-amd64 nfs-kernel-server nfs-common \
    >>"$WORK/apt.log" 2>&1 || { tail -n 40 "$WORK/apt.log" >&2; exit 1; }
KVER=$(basename "$(ls -d "$ROOT"/lib/modules/*-amd64 | head -n 1)")

step "OpenZFS from $SUITE (DKMS build of zfs.ko for $KVER: several minutes)"
TARGET=()
[[ $SUITE == bookworm-backports ]] && TARGET=(-t bookworm-backports)
in_root "${APT[@]}" "${TARGET[@]}" install zfs-dkms zfsutils-linux >>"$WORK/apt.log" 2>&1 \
    || { tail -n 60 "$WORK/apt.log" >&2; exit 1; }
if ! find "$ROOT/lib/modules/$KVER" -name 'zfs.ko*' | grep -q .; then
    step "zfs.ko missing: dkms autoinstall -k $KVER"
    in_root dkms autoinstall -k "$KVER" >>"$WORK/apt.log" 2>&1 || true
    find "$ROOT/lib/modules/$KVER" -name 'zfs.ko*' | grep -q . \
        || { tail -n 60 "$WORK/apt.log" >&2; echo "zfs.ko was not built for $KVER" >&2; exit 1; }
fi
in_root dpkg-query -W -f '${Version}' zfsutils-linux >"$WORK/zfs-version"

step "configure: network (static, restricted by QEMU), sshd key login, zfs at boot"
echo ozfs-guest >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 ozfs-guest\n::1 localhost ip6-localhost\n' >"$ROOT/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 0\n' >"$ROOT/etc/fstab"
cat >"$ROOT/etc/systemd/network/10-nic.network" <<'NET'
[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
IPv6AcceptRA=yes
NET
in_root systemctl enable systemd-networkd >/dev/null 2>&1
echo zfs >"$ROOT/etc/modules-load.d/zfs.conf"
in_root passwd -d root >/dev/null  # serial console only: sshd refuses empty passwords
mkdir -p "$ROOT/root/.ssh"
ssh-keygen -q -t ed25519 -N '' -C pyzfsnas-guest -f "$WORK/id_ed25519"
cp "$WORK/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
chmod 700 "$ROOT/root/.ssh"; chmod 600 "$ROOT/root/.ssh/authorized_keys"
cat >"$ROOT/etc/ssh/sshd_config.d/pyzfsnas.conf" <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
MaxSessions 100
MaxStartups 100:30:200
SSHD
cp "$ROOT/etc/ssh/ssh_host_ed25519_key.pub" "$WORK/ssh_host_ed25519_key.pub"
# Nothing periodic or networked in the guest.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-timesyncd.service; do
    in_root systemctl mask "$unit" >/dev/null 2>&1 || true
done
cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/initrd.img"

step "root filesystem image"
in_root apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT/usr/sbin/policy-rc.d"
for m in dev/pts dev proc sys; do umount "$ROOT/$m"; done
mkfs.ext4 -q -F -L guestroot -d "$ROOT" "$WORK/root.raw" 3G
rm -rf "$ROOT"

mkdir -p "$OUT"
mv "$WORK/root.raw" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/id_ed25519" "$WORK/id_ed25519.pub" \
    "$WORK/ssh_host_ed25519_key.pub" "$WORK/zfs-version" "$OUT/"
touch "$OUT/ready"
# Older images of this suite are replaced, not accumulated.
find "$CACHE_ROOT" -maxdepth 1 -name "$SUITE-????????????" ! -path "$OUT" -exec rm -rf {} + 2>/dev/null || true
step "done: OpenZFS $(cat "$OUT/zfs-version") in $OUT"
echo "$OUT"
