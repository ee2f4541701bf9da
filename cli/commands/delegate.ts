import { gateRuleCommand } from "./_policy.ts";

export default gateRuleCommand(
  "delegate",
  "Let matching actors move tasks anywhere within this cgroup's subtree, past locks at it and above it",
);

export const examples = [
  "cgwarden delegate /system.slice/containers.service --exe /usr/bin/crun",
  "cgwarden delegate /user.slice/user-1000.slice --uid 1000",
];
