#!/usr/bin/env bash
# make slurm-up: a single-node SLURM on this machine, for the tests and for trying the cluster path.
#
# Debian/Ubuntu, as root, no systemd needed: munged -> mariadbd -> slurmdbd (accounting, so sacct works;
# submitit and the grid read job states from it) -> slurmctld -> slurmd, then waits until the node is idle
# (about 20 s from a machine without the packages, 2 s with them). Two partitions: `debug` (default, low
# priority) and `high`, whose jobs preempt debug's (requeued, so preemption can be tried). The node
# advertises $ALEXLIB_SLURM_GPUS fake GPUs (character devices aliasing /dev/null) so that per-run GPU
# placement (CUDA_VISIBLE_DEVICES) can be tested without a GPU.
#
# Everything it writes lives in $ALEXLIB_SLURM_DIR (default /tmp/alexlib-slurm): configs, logs, state and
# the pid files `make slurm-down` stops. If /etc/slurm/slurm.conf does not exist, it becomes a link to
# this config so plain `sinfo`/`sbatch` find it; otherwise export SLURM_CONF=$ALEXLIB_SLURM_DIR/etc/slurm.conf.
# Already up: returns at once.
set -euo pipefail
S=${ALEXLIB_SLURM_DIR:-/tmp/alexlib-slurm}
GPUS=${ALEXLIB_SLURM_GPUS:-4}
CPUS=${ALEXLIB_SLURM_CPUS:-4}   # advertised CPUs (may exceed the real ones): runs at once with --slurm cpus=1
PKGS="munge mariadb-server slurmdbd slurmctld slurmd slurm-client"
export SLURM_CONF=$S/etc/slurm.conf

say() { echo "slurm-up: $*"; }
alive() { [[ -s $S/run/$1.pid ]] && kill -0 "$(cat "$S/run/$1.pid")" 2>/dev/null; }
node_state() { sinfo -h -n localhost -o %T 2>/dev/null | head -1; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local n=$1 what=$2; shift 2
  for ((i = 0; i < n * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  say "$what did not come up within $n s; logs in $S/log"; exit 1
}

if alive slurmctld && alive slurmd && [[ $(node_state) =~ ^(idle|mixed|allocated) ]]; then
  say "already up ($(node_state)); SLURM_CONF=$SLURM_CONF"; exit 0
fi
if [[ $(id -u) != 0 ]]; then say "needs root (it starts munged, mariadbd and the SLURM daemons)"; exit 1; fi
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sinfo >/dev/null; then
  command -v apt-get >/dev/null || { say "needs the Debian/Ubuntu packages: $PKGS"; exit 1; }
  say "installing $PKGS"
  # keep the packages' install scripts from starting the services: this script starts them itself
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends $PKGS >/dev/null
  rm -f /usr/sbin/policy-rc.d; trap - EXIT
fi
"$(dirname "$0")/slurm-down.sh" --quiet  # a half-started earlier attempt

mkdir -p "$S"/{etc,log,run,dev,spool/ctld,spool/d}
chmod 755 "$S" "$S"/{etc,log,run}

# munge: authenticates every SLURM message
[[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
mkdir -p /run/munge /var/log/munge /var/lib/munge; chown munge:munge /run/munge /var/log/munge /var/lib/munge
install -o munge -g munge -d "$S/munge"
runuser -u munge -- /usr/sbin/munged --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log"
ln -sf "$S/munge/munged.pid" "$S/run/munged.pid"
wait_for 10 munged munge -n

# mariadb: the accounting database (no network; every path it writes belongs to user mysql)
mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
install -o mysql -g mysql -d "$S/mysql" "$S/mysql-log"
[[ -d $S/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir="$S/mysql" --skip-test-db >"$S/log/mariadb-install.log" 2>&1
setsid /usr/sbin/mariadbd --user=mysql --datadir="$S/mysql" --skip-networking --socket=/run/mysqld/mysqld.sock \
  --pid-file="$S/mysql-log/mariadb.pid" --log-error="$S/mysql-log/mariadb.log" </dev/null >/dev/null 2>&1 &
ln -sf "$S/mysql-log/mariadb.pid" "$S/run/mariadb.pid"
wait_for 30 mariadbd mariadb -S /run/mysqld/mysqld.sock -e 'select 1'
mariadb -S /run/mysqld/mysqld.sock -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'alexlib';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

cat > "$S/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$S/log/slurmdbd.log
PidFile=$S/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=alexlib
StorageLoc=slurm_acct_db
CONF
chmod 600 "$S/etc/slurmdbd.conf"

# the fake GPUs: SLURM needs character devices for File=, and ignores GPUs without one
for ((g = 0; g < GPUS; g++)); do [[ -c $S/dev/gpu$g ]] || mknod "$S/dev/gpu$g" c 1 3; done
MEM=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat > "$S/etc/slurm.conf" <<CONF
# written by cluster/slurm-up.sh: a single-node SLURM for tests (see CLUSTER notes in the README)
ClusterName=alexlib
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
SchedulerParameters=sched_interval=1,bf_interval=1
StateSaveLocation=$S/spool/ctld
SlurmdSpoolDir=$S/spool/d
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
GresTypes=gpu
NodeName=localhost CPUs=$CPUS RealMemory=$MEM Gres=gpu:$GPUS State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=5
PartitionName=high Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=10
CONF
if ((GPUS > 0)); then echo "Name=gpu File=$S/dev/gpu[0-$((GPUS - 1))]" > "$S/etc/gres.conf"; else : > "$S/etc/gres.conf"; fi
[[ -e /etc/slurm/slurm.conf ]] || { mkdir -p /etc/slurm; ln -s "$S/etc/slurm.conf" /etc/slurm/slurm.conf; }

slurmdbd
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -i -Q add cluster alexlib >/dev/null 2>&1 || true
slurmctld -c
wait_for 30 slurmctld scontrol ping
slurmd -N localhost
for ((i = 0; i < 300; i++)); do [[ $(node_state) == idle ]] && break; sleep 0.2; done
[[ $(node_state) == idle ]] || { say "node is '$(node_state)', not idle, after 60 s; logs in $S/log"; exit 1; }
say "up: node localhost idle, $CPUS CPUs, $GPUS GPUs, partitions debug (default) and high; SLURM_CONF=$SLURM_CONF"
