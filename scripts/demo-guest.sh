#!/usr/bin/env bash
# Runs inside the demo guest (see scripts/demo.ts): a service locked in its
# cgroup, root denied moving it out, an allowed actor doing the same move.
set -u
cd "$(dirname "$0")/.."
cgwarden() { dist/cgwarden "$@"; }
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Which mechanism can this kernel enforce with?"
run cgwarden check || exit 1

say "A service and a place it should never be moved to"
mkdir -p /sys/fs/cgroup/demo.slice/web.service /sys/fs/cgroup/scratch
sleep infinity &
svc=$!
echo "$svc" > /sys/fs/cgroup/demo.slice/web.service/cgroup.procs
echo "web.service runs pid $svc in $(grep 0:: /proc/$svc/cgroup | cut -d: -f3)"

say "Lock the service's subtree against moves out of it"
run cgwarden lock /demo.slice/web.service --out

say "root tries to move the service's task out: denied"
if run bash -c "echo $svc > /sys/fs/cgroup/scratch/cgroup.procs"; then
  echo "UNEXPECTED: the move went through"; exit 1
fi
echo "the task stays in $(grep 0:: /proc/$svc/cgroup | cut -d: -f3)"

say "The kernel kept a record of the denial"
run cgwarden audit --verdict denied
seq=$(cgwarden audit --verdict denied --json | tail -n 1 | sed -n 's/^{"seq":\([0-9]*\).*/\1/p')

say "Why it was denied, and what would allow it"
run cgwarden explain --record "$seq"

say "Allow one actor, the service manager's executable, past that lock"
cp /bin/dash /tmp/svc-manager
run cgwarden allow /demo.slice/web.service --exe /tmp/svc-manager

say "The allowed actor does the same move: it succeeds"
run /tmp/svc-manager -c "echo $svc > /sys/fs/cgroup/scratch/cgroup.procs" || exit 1
echo "the task is now in $(grep 0:: /proc/$svc/cgroup | cut -d: -f3)"

say "The policy, as the kernel holds it"
run cgwarden rules
run cgwarden status
kill "$svc"
