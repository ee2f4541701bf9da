import { gateRuleCommand } from "./_policy.ts";

export default gateRuleCommand(
  "delegate",
  "Let matching actors move tasks anywhere within this cgroup's subtree, past locks at it and above it",
);
