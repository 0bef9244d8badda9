#!/bin/bash
# A throw-away Slurm 22.05 cluster for the tests, everything under one dir, no file under /etc
# touched (the recipe tested for the project's notes on Slurm): munged, slurmctld, NODES slurmd's on this
# host with fake GPUs (char devices, so --gres=gpu schedules), proctrack/cgroup when the
# machine has cgroup v1 (so scancel kills the whole tree).
#   slurm-cluster.sh up W PREFIX     # node names PREFIXn1..: cgroup dirs are named per node, machine-wide
#   slurm-cluster.sh down W
set -eu
cmd=$1; W=$(cd "$2" && pwd)
PREFIX=${3:-node}
NODES=${NODES:-2}; GPUS=${FAKE_GPUS:-2}
export SLURM_CONF="$W/etc/slurm.conf"
PROCTRACK=linuxproc
[ -d /sys/fs/cgroup/freezer ] && [ -d /sys/fs/cgroup/memory ] && PROCTRACK=cgroup
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# Up to SECS seconds (not a count of tries: on a loaded machine each try is slow).
wait_for() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ "$SECONDS" -lt "$end" ] || { echo "timeout: $*" >&2; return 1; }; sleep 0.05; done; }

up() {
  chmod 755 "$W"
  mkdir -p "$W/munge" "$W/etc" "$W/state" "$W/log" "$W/run" "$W/fakedev"
  chmod 755 "$W/munge"
  for i in $(seq 1 "$NODES"); do mkdir -p "$W/spool/${PREFIX}n$i"; done
  [ -f "$W/munge/munge.key" ] || mungekey --create --keyfile="$W/munge/munge.key"
  munged --foreground --socket="$W/munge/munge.sock" --key-file="$W/munge/munge.key" \
    --pid-file="$W/munge/munged.pid" --seed-file="$W/munge/munged.seed" \
    --log-file="$W/munge/munged.log" >"$W/log/munged.out" 2>&1 &
  echo $! >"$W/run/munged.pid"
  wait_for 20 test -S "$W/munge/munge.sock"
  for g in $(seq 0 $((GPUS - 1))); do [ -e "$W/fakedev/nvidia$g" ] || mknod -m 666 "$W/fakedev/nvidia$g" c 1 3; done
  printf 'AutoDetect=off\nName=gpu Type=fake File=%s/fakedev/nvidia[0-%d]\n' "$W" $((GPUS - 1)) >"$W/etc/gres.conf"
  if [ "$PROCTRACK" = cgroup ]; then
    printf 'CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\nConstrainCores=no\nConstrainRAMSpace=yes\nConstrainDevices=no\n' >"$W/etc/cgroup.conf"
  fi
  local ctldport slurmdport nodelines="" ncpu
  ctldport=$(free_port); slurmdport=$(free_port); ncpu=$(nproc)
  for i in $(seq 1 "$NODES"); do
    nodelines+="NodeName=${PREFIX}n$i NodeHostname=$(hostname) NodeAddr=127.0.0.1 Port=$((slurmdport + i - 1)) CPUs=$ncpu Sockets=1 CoresPerSocket=$ncpu ThreadsPerCore=1 RealMemory=4000 Gres=gpu:fake:$GPUS State=UNKNOWN"$'\n'
  done
  cat >"$SLURM_CONF" <<CONF
ClusterName=rpt
SlurmctldHost=localhost
SlurmctldPort=$ctldport
SlurmdPort=$slurmdport
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge/munge.sock
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool/%n
SlurmctldPidFile=$W/run/slurmctld.pidfile
SlurmdPidFile=$W/run/slurmd-%n.pidfile
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/$PROCTRACK
TaskPlugin=$([ "$PROCTRACK" = cgroup ] && echo task/cgroup || echo task/none)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$W/log/jobcomp.txt
MpiDefault=none
GresTypes=gpu
ReturnToService=2
MinJobAge=600
KillWait=2
OverTimeLimit=0
${nodelines}PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -D -i >"$W/log/slurmctld.out" 2>&1 &
  echo $! >"$W/run/slurmctld.pid"
  wait_for 40 scontrol ping
  for i in $(seq 1 "$NODES"); do
    slurmd -D -N "${PREFIX}n$i" >"$W/log/slurmd-n$i.out" 2>&1 &
    echo $! >"$W/run/slurmd-n$i.pid"
  done
  wait_for 80 bash -c "[ \"\$(sinfo -h -o '%T %D')\" = 'idle $NODES' ]"
}

down() {
  if scontrol ping >/dev/null 2>&1; then
    scancel --partition=debug 2>/dev/null || true
    wait_for 12 bash -c '[ -z "$(squeue -h 2>/dev/null)" ]' 2>/dev/null || true
  fi
  for f in "$W"/run/slurmd-*.pid "$W/run/slurmctld.pid" "$W/run/munged.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.3
  for c in /sys/fs/cgroup/freezer /sys/fs/cgroup/memory /sys/fs/cgroup/cpuset /sys/fs/cgroup/devices; do
    for d in "$c"/slurm_"${PREFIX}"n*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
  done
}

"$cmd"
