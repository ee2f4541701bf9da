import { defineCommand } from "./_define.ts";
import { print } from "../output.ts";
import { SHELLS, completionScript, type Shell } from "../usage/completion.ts";
import { commandSpecs } from "./_specs.ts";

export default defineCommand({
  meta: { name: "completion", description: "Print a shell completion script (bash, zsh or fish)" },
  args: { shell: { type: "positional", required: true, description: "bash, zsh or fish", options: SHELLS } },
  async run({ args }) {
    print(completionScript(args.shell as Shell, await commandSpecs()).trimEnd());
  },
});

export const examples = [
  "cgwarden completion bash > /etc/bash_completion.d/cgwarden",
  "cgwarden completion zsh > /usr/local/share/zsh/site-functions/_cgwarden",
  "cgwarden completion fish > ~/.config/fish/completions/cgwarden.fish",
];
