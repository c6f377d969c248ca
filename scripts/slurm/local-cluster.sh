#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for checking scripts/slurm/:
# munge, slurmctld and slurmd on localhost, state in a directory of its own.
#   scripts/slurm/local-cluster.sh up DIR     start it; prints the SLURM_CONF to export
#   scripts/slurm/local-cluster.sh down DIR   stop it
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root.
set -euo pipefail
action=${1:?usage: local-cluster.sh up|down DIR}
dir=$(mkdir -p "${2:?usage: local-cluster.sh up|down DIR}" && cd "$2" && pwd)
conf=$dir/slurm.conf

case $action in
up)
    for tool in slurmctld slurmd munged sbatch; do
        command -v "$tool" >/dev/null || { echo "local-cluster: $tool is missing (apt-get install slurm-wlm munge)" >&2; exit 1; }
    done
    mkdir -p "$dir/state" "$dir/spool"
    [ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge && dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    pgrep -x munged >/dev/null || runuser -u munge -- munged
    node=$(hostname -s)
    cat >"$conf" <<CONF
ClusterName=local
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
    SLURM_CONF=$conf slurmctld
    SLURM_CONF=$conf slurmd
    for _ in $(seq 30); do
        SLURM_CONF=$conf sinfo -h -o %t 2>/dev/null | grep -q idle && break
        sleep 1
    done
    SLURM_CONF=$conf sinfo -h -o %t | grep -q idle || { echo "local-cluster: the node did not come up; see $dir/*.log" >&2; exit 1; }
    echo "export SLURM_CONF=$conf"
    ;;
down)
    for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
        [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
    ;;
*)
    echo "usage: local-cluster.sh up|down DIR" >&2
    exit 2
    ;;
esac
