#!/usr/bin/env bash
# make slurm-down: stops the daemons `make slurm-up` started, by their pid files only (never by name).
set -uo pipefail
S=${ALEXLIB_SLURM_DIR:-/tmp/alexlib-slurm}
quiet=${1:-}
stopped=()
for d in slurmd slurmctld slurmdbd mariadb munged; do  # the reverse of the start order
  f=$S/run/$d.pid
  [[ -s $f ]] || continue
  pid=$(cat "$f")
  # only if that pid is still the daemon it names (a pid can be reused after a crash)
  if kill -0 "$pid" 2>/dev/null && [[ $(cat /proc/"$pid"/comm 2>/dev/null) == *"$d"* ]]; then
    kill -TERM "$pid"
    for ((i = 0; i < 75 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    stopped+=("$d")
  fi
  rm -f "$f"
done
[[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$S/etc/slurm.conf" ]] && rm -f /etc/slurm/slurm.conf
[[ -n $quiet ]] || echo "slurm-down: stopped ${stopped[*]:-nothing (not running)}"
