package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"
)

// The scripts ask brickctl itself for candidates (urfave/cli's hidden
// --generate-shell-completion flag), so they follow new commands and
// flags. brickctl prints "name:description" lines: commands after
// `brickctl`, flags when the word starts with -, and nothing where a
// command takes a block ID or a file, so the shell offers files there.
const bashCompletion = `# brickctl bash completion: source this file, or
#   brickctl completion bash > /etc/bash_completion.d/brickctl
_brickctl_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-shell-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-shell-completion 2>/dev/null)
  fi
  opts=$(printf '%s\n' "$opts" | cut -d: -f1)
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
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-shell-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-shell-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _brickctl brickctl
`

const fishCompletion = `# brickctl fish completion:
#   brickctl completion fish > ~/.config/fish/completions/brickctl.fish
function __brickctl_complete
    set -l args (commandline -opc)
    set -l cur (commandline -ct)
    if string match -q -- '-*' $cur
        set results ($args $cur --generate-shell-completion 2>/dev/null)
    else
        set results ($args --generate-shell-completion 2>/dev/null)
    end
    if test (count $results) -eq 0
        __fish_complete_path $cur
        return
    end
    for line in $results
        set -l parts (string split -m 1 ':' -- $line)
        if test (count $parts) -eq 2
            printf '%s\t%s\n' $parts[1] $parts[2]
        else
            printf '%s\n' $line
        end
    end
end
complete -c brickctl -e
complete -c brickctl -f -a '(__brickctl_complete)'
`

var completionScripts = map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}

// configureCompletion makes urfave/cli's completion command brickctl's:
// listed in the help, with these scripts, which fall back to file names.
func configureCompletion(cmd *cli.Command) {
	cmd.Hidden = false
	cmd.Usage = "print a shell completion script (bash, zsh or fish)"
	cmd.Description = "bash:  source <(brickctl completion bash)\n" +
		"zsh:   source <(brickctl completion zsh)\n" +
		"fish:  brickctl completion fish > ~/.config/fish/completions/brickctl.fish"
	cmd.OnUsageError = onUsageError
	var shells []*cli.Command
	for _, sub := range cmd.Commands {
		script, ok := completionScripts[sub.Name]
		if !ok {
			continue // urfave/cli's PowerShell script: not offered
		}
		sub.Usage = "print the " + sub.Name + " completion script"
		sub.Action = func(context.Context, *cli.Command) error {
			_, err := fmt.Print(script)
			return err
		}
		shells = append(shells, sub)
	}
	cmd.Commands = shells
	cmd.Action = func(context.Context, *cli.Command) error {
		return usagef("completion needs a shell: brickctl completion bash, zsh or fish")
	}
}

// completeFilesOrFlags is the completion of a command that takes block
// IDs or files: its flags (and the global ones) for a word that starts
// with -, else nothing, so the shell completes a file name.
func completeFilesOrFlags(ctx context.Context, cmd *cli.Command) {
	args := os.Args
	if n := len(args); n >= 2 && strings.HasPrefix(args[n-2], "-") && !takesValue(cmd, args[n-2]) {
		cli.DefaultCompleteWithFlags(ctx, cmd)
	}
}

// takesValue reports whether arg is a flag of cmd or of brickctl that
// wants a value next (the word being completed is then that value).
func takesValue(cmd *cli.Command, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	for _, f := range append(cmd.Flags, cmd.Root().Flags...) {
		if dv, ok := f.(cli.DocGenerationFlag); ok && dv.TakesValue() && slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}
