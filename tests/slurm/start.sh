#!/usr/bin/env bash
# A single-node Slurm cluster (Debian 12, Slurm 22.05) for vox's cluster tests, as root, in a
# container. Copied from the workplace's slurm-single-node, and changed in two ways: a cluster
# that already answers is used as it is (nothing started, so stop.sh stops nothing), and every
# failure exits non-zero with what went wrong, so a test that needs Slurm fails loudly.
# Usage: start.sh STATE_DIR   (PIDs of the daemons it starts are written there; stop.sh STATE_DIR stops them)
# Installs slurmctld, slurmd, slurm-client and munge with apt when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=${1:?usage: start.sh STATE_DIR}; mkdir -p "$state"
fail() { echo "start.sh: $*" >&2; exit 1; }
if command -v scontrol >/dev/null && scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mix|alloc'; then
  echo "start.sh: a Slurm cluster already answers; using it"; sinfo; exit 0
fi
[ "$(id -u)" = 0 ] || fail "must run as root (it installs packages and starts slurmctld, slurmd and munged)"
if ! command -v slurmctld >/dev/null; then
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
    || fail "cannot install slurmctld slurmd slurm-client munge with apt"
fi
mkdir -p /etc/slurm
sed "s/^NodeName=localhost CPUs=[0-9]*/NodeName=localhost CPUs=$(nproc)/" "$here/slurm.conf" > /etc/slurm/slurm.conf
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || fail "no munge key and cannot create one"; chown munge:munge /etc/munge/munge.key; }
if ! { [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; }; then
  runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
  sleep 1; cp /run/munge/munged.pid "$state/munged.pid"
fi
/usr/sbin/slurmctld -i || fail "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
sleep 1 && cp /run/slurmctld.pid "$state/slurmctld.pid"
/usr/sbin/slurmd -N localhost || fail "slurmd did not start (see /var/log/slurm/slurmd.log)"
sleep 2 && cp /run/slurmd.pid "$state/slurmd.pid"
for _ in $(seq 40); do sinfo -h -o %T 2>/dev/null | grep -q idle && { sinfo; exit 0; }; sleep 0.5; done
fail "the node never became idle: $(sinfo 2>&1 | tail -2)"
