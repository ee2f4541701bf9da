import { gateRuleCommand } from "./_policy.ts";

export default gateRuleCommand("allow", "Let matching actors pass the lock on this cgroup (and only that lock)");

export const examples = [
  "cgwarden allow /system.slice/foo.service --exe /usr/lib/systemd/systemd",
  "cgwarden allow /system.slice/foo.service --user backup --cgroup /system.slice/backup.service",
  "cgwarden allow /system.slice/foo.service --pid 1234",
];
