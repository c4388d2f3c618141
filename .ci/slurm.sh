#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests of the SLURM launcher (tests/study/test_slurm_cluster.py)
# and for developers: the distribution's slurmctld, slurmd and munge, no accounting, no cgroups. As root:
#
#   bash .ci/slurm.sh start    # install the packages where missing (apt-get), write the config, start the daemons,
#                              #   wait until `sinfo` shows the node idle; a cluster already up is left as it is
#   bash .ci/slurm.sh status   # sinfo and squeue
#   bash .ci/slurm.sh stop     # stop the daemons it started
#
# start exits 3, with the reason, when the packages are missing and cannot be installed (not root, no apt-get, no
# network): the SLURM tests then skip. The cluster is named amuro-ci; the tests use no other cluster.
set -euo pipefail

CLUSTER=amuro-ci
CONF=/etc/slurm/slurm.conf
MARK="# written by amuro .ci/slurm.sh"
STATE=/run/amuro-slurm  # what this script started (munged only when it was not running already)
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "slurm.sh: $*"; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        say "cannot install ${missing[*]}: needs root and apt-get (run this script as root)"; exit 3
    fi
    say "installing ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}"; } >/tmp/amuro-slurm-apt.log 2>&1; then
        say "cannot install ${missing[*]}: apt-get failed ($(tail -1 /tmp/amuro-slurm-apt.log))"; exit 3
    fi
}

node_state() { sinfo -h -o %T 2>/dev/null | head -1; }

write_config() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        say "$CONF exists and was not written by this script; not touching it"; exit 1
    fi
    local node host
    node=$(slurmd -C | head -1)  # NodeName=<host> CPUs=... RealMemory=...: what slurmd will find
    host=$(hostname -s)
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat >"$CONF.tmp" <<EOF
$MARK: a one-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# a cancelled or requeued job gets SIGTERM, then SIGKILL after 2 s; a requeued job may start again after 5 s
# (the defaults, 30 s and 120 s, only slow the tests down)
KillWait=2
AuthInfo=cred_expire=5
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start() {
    install_packages
    if [ "$(node_state)" = idle ] || [ "$(node_state)" = mixed ] || [ "$(node_state)" = allocated ]; then
        say "cluster already up"; sinfo; return 0
    fi
    [ "$(id -u)" -eq 0 ] || { say "starting the daemons needs root"; exit 1; }
    mkdir -p "$STATE"
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        [ -s /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; }
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
        mkdir -p /run/munge && chown munge:munge /run/munge
        runuser -u munge -- /usr/sbin/munged
        touch "$STATE/munged"
    fi
    write_config
    pkill_pidfile /run/slurmd.pid; pkill_pidfile /run/slurmctld.pid  # leftovers of a half-started cluster
    slurmctld -c  # -c: a clean start, no jobs left from an earlier run
    slurmd
    for _ in $(seq 60); do
        case "$(node_state)" in
            idle) sinfo; return 0 ;;
            down*|drain*) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    say "the node did not become idle in 60 s:"; sinfo || true
    tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log
    exit 1
}

pkill_pidfile() {  # stop the daemon whose pid the file holds, and wait until it is gone
    local pid
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$1"
}

stop() {
    pkill_pidfile /run/slurmd.pid
    pkill_pidfile /run/slurmctld.pid
    if [ -f "$STATE/munged" ]; then
        pkill_pidfile /run/munge/munged.pid
        rm -f "$STATE/munged"
    fi
    say "stopped"
}

status() {
    if ! command -v sinfo >/dev/null; then say "no SLURM client installed"; exit 1; fi
    sinfo && squeue
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: bash .ci/slurm.sh start|stop|status" >&2; exit 2 ;;
esac
