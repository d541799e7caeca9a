package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The scripts ask brickctl itself for candidates (urfave/cli's hidden
// --generate-bash-completion flag), so they follow new commands and flags.
const bashCompletion = `# brickctl bash completion: source this file, or
#   brickctl completion bash > /etc/bash_completion.d/brickctl
_brickctl_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _brickctl_complete brickctl
`

const zshCompletion = `#compdef brickctl
# brickctl zsh completion (after compinit): source <(brickctl completion zsh)
_brickctl() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _brickctl brickctl
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: "bash:  source <(brickctl completion bash)\n" +
			"zsh:   source <(brickctl completion zsh)",
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				fmt.Print(bashCompletion)
			case "zsh":
				fmt.Print(zshCompletion)
			default:
				return usagef("completion needs a shell: brickctl completion bash or brickctl completion zsh")
			}
			return nil
		},
	}
}
