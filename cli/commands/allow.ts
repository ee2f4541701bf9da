import { gateRuleCommand } from "./_policy.ts";

export default gateRuleCommand("allow", "Let matching actors pass the lock on this cgroup (and only that lock)");
