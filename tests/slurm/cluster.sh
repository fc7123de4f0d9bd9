#!/usr/bin/env bash
# A throwaway single-node SLURM (munged, slurmctld, slurmd; one fake GPU) in a scratch folder, for tests.
#
#   tests/slurm/cluster.sh start DIR   starts the daemons (root only); prints the environment its clients need:
#                                      `SLURM_CONF=DIR/slurm.conf` and `PATH=DIR/bin:...` (wrapped srun etc.)
#   tests/slurm/cluster.sh stop DIR    stops exactly the daemons started in DIR, by the PIDs in their pid files
#
# Needs Debian's slurmctld slurmd slurm-client munge (`.ci/run` installs them). Nothing outside DIR is written
# or read except the installed binaries: its own munge key and socket, its own ports, no systemd. Every wait is
# bounded; `start` exits non-zero with the reason (and the daemons' log tails) when the cluster does not come up,
# after stopping whatever it had started. The node offers 1 GPU backed by /dev/null (SLURM needs a device file),
# so a job that asks for it gets CUDA_VISIBLE_DEVICES=0 and GPU jobs beyond one run one after another.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$2

# Stop the daemon in PIDFILE if /proc/PID/comm still names it (never kill a PID that has since been reused).
stop_one() {  # PIDFILE COMM
    local pidfile=$dir/$1 comm=$2 pid i
    [[ -s $pidfile ]] || return 0
    pid=$(tr -dc 0-9 < "$pidfile")
    [[ -n $pid && -r /proc/$pid/comm && $(cat "/proc/$pid/comm") == "$comm" ]] || { rm -f "$pidfile"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        # a zombie (state Z) has exited even though its /proc entry lingers
        [[ -r /proc/$pid/stat ]] && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || break
        sleep 0.2
    done
    if [[ -r /proc/$pid/stat && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

stop_all() {
    stop_one slurmd.pid slurmd
    stop_one slurmctld.pid slurmctld
    stop_one munge/munged.pid munged
}

fail() {
    trap - ERR
    echo "SLURM test cluster did not start: $*" >&2
    for log in "$dir"/munge/munged.log "$dir"/log/slurmctld.log "$dir"/log/slurmd.log; do
        if [[ -s $log ]]; then echo "--- $log" >&2; tail -n 15 "$log" >&2; fi
    done
    stop_all
    exit 1
}

wait_for() {  # SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2 i
    shift 2
    for i in $(seq $((seconds * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    fail "$what (waited ${seconds}s)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local missing=() cmd
    for cmd in munged mungekey munge unmunge slurmctld slurmd sinfo sbatch squeue scontrol runuser; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [[ ${#missing[@]} -eq 0 ]] || {
        echo "SLURM test cluster: missing ${missing[*]} (apt-get install slurmctld slurmd slurm-client munge)" >&2
        exit 3
    }
    [[ $(id -u) -eq 0 ]] || { echo "SLURM test cluster: must run as root (munged runs as user munge)" >&2; exit 3; }
    id munge >/dev/null 2>&1 || { echo "SLURM test cluster: no user munge (install munge)" >&2; exit 3; }

    trap 'fail "command failed at line $LINENO of $0"' ERR  # stops whatever was started
    mkdir -p "$dir"/munge "$dir"/munge-socket "$dir"/state "$dir"/spool "$dir"/log
    chmod 755 "$dir" "$dir"/munge-socket
    chmod 700 "$dir"/munge
    chown munge:munge "$dir"/munge "$dir"/munge-socket

    # munge, as user munge: its own key, pid and log (private) and socket (a folder everyone may enter)
    local sock=$dir/munge-socket/munge.socket
    runuser -u munge -- mungekey --create --keyfile="$dir"/munge/munge.key --force
    runuser -u munge -- munged --key-file="$dir"/munge/munge.key --socket="$sock" \
        --pid-file="$dir"/munge/munged.pid --log-file="$dir"/munge/munged.log --seed-file="$dir"/munge/munged.seed \
        || fail "munged exited"
    wait_for 10 "munge credentials (munge -n | unmunge)" bash -c "munge -n -S '$sock' | unmunge -S '$sock'"

    # slurm.conf: the node as slurmd detects it, plus one fake GPU
    local node ctld_port slurmd_port detected node_line
    detected=$(slurmd -C | head -n 1)  # "NodeName=<short hostname> CPUs=... RealMemory=..."
    node=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<< "$detected")
    node_line=$(sed -E 's/^NodeName=[^ ]+ //' <<< "$detected")
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done
    cat > "$dir"/slurm.conf <<EOF
ClusterName=siamese-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
GresTypes=gpu
MpiDefault=none
ReturnToService=2
# no slurmdbd: sacct has nothing to report, so jobs must stay visible to squeue for a while after they end
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerParameters=sched_interval=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 Gres=gpu:1 $node_line State=UNKNOWN
PartitionName=gpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    echo "Name=gpu File=/dev/null" > "$dir"/gres.conf
    export SLURM_CONF=$dir/slurm.conf
    # Client commands that find this slurm.conf without SLURM_CONF: the SLURM executor's job step drops every
    # SLURM_* variable but the job's id before its inner srun, which would then look for /etc/slurm/slurm.conf.
    mkdir -p "$dir"/bin
    for cmd in srun sbatch squeue scontrol sinfo scancel; do
        printf '#!/bin/sh\nexport SLURM_CONF=%q\nexec %q "$@"\n' "$SLURM_CONF" "$(command -v "$cmd")" > "$dir/bin/$cmd"
        chmod 755 "$dir/bin/$cmd"
    done

    slurmctld -i || fail "slurmctld exited"
    wait_for 20 "slurmctld answering (scontrol ping)" bash -c "scontrol ping | grep -q UP"
    slurmd || fail "slurmd exited"
    wait_for 30 "node $node idle with its GPU (sinfo)" \
        bash -c "sinfo -h -N -n '$node' -o '%t %G' | grep -Eq '^idle[*]? +gpu:1'"
    trap - ERR
    echo "SLURM_CONF=$dir/slurm.conf"
    echo "PATH=$dir/bin:$PATH"
}

case $action in
    start) start ;;
    stop) stop_all ;;
    *) usage ;;
esac
