// Command brickctl administers a brick and moves data in and out of it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"
)

var version = "dev"

// globalFlags are the root's flags. urfave/cli/v3 hands them down to every
// command, so they work before or after the command name and its
// arguments: `brickctl --json list`, `brickctl list 0 --json`.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "tcp://127.0.0.1:7470", Sources: cli.EnvVars("BRICK_ADDR"),
			Usage: "the brick's address: tcp://HOST:PORT or rdma://HOST:PORT"},
		&cli.BoolFlag{Name: "json", Sources: cli.EnvVars("BRICK_JSON"), Usage: "print results as JSON"},
		&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, Sources: cli.EnvVars("BRICK_TIMEOUT"),
			Usage: "give up on the brick after this long"},
		&cli.StringFlag{Name: "auth-key", Sources: cli.EnvVars("BRICK_AUTH_KEY_FILE"), TakesFile: true,
			Usage: "file holding the brick's pre-shared key (mode 0600); or put the key itself in BRICK_AUTH_KEY"},
		&cli.BoolFlag{Name: "no-key-ok", Sources: cli.EnvVars("BRICK_NO_KEY_OK"),
			Usage: "the brick has no key and you know it: do not warn about it"},
		&cli.BoolFlag{Name: "optional-crc", Sources: cli.EnvVars("BRICK_OPTIONAL_CRC"),
			Usage: "on tcp://, do not ask the brick for the MPA CRC; a brick served by Linux siw needs it when one session reads a block another writes (docs/rdma.md)"},
	}
}

func newApp() *cli.Command {
	app := &cli.Command{
		Name:    "brickctl",
		Usage:   "administer a brick and read or write its blocks",
		Version: version,
		Flags:   globalFlags(),
		Commands: []*cli.Command{
			allocCommand(), freeCommand(), mapCommand(), unmapCommand(),
			listCommand(), putCommand(), getCommand(), statusCommand(),
			sessionsCommand(), revokeCommand(),
			benchCommand(),
		},
		EnableShellCompletion:           true,
		ConfigureShellCompletionCommand: configureCompletion,
		ExitErrHandler:                  func(context.Context, *cli.Command, error) {},
		// Without a command: the help, or a sentence for a name that is
		// not a command.
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usagef("%q is not a brickctl command; brickctl --help lists them", cmd.Args().First())
			}
			return cli.ShowRootCommandHelp(cmd)
		},
	}
	// A mistake on the command line is one sentence and exit 2, not the
	// help text: --help shows that.
	app.OnUsageError = onUsageError
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
		if cmd.ShellComplete == nil {
			cmd.ShellComplete = completeFilesOrFlags
		}
	}
	return app
}

func main() {
	app := newApp()
	var unknown string // `brickctl help NAME` for a NAME that is not a command
	app.CommandNotFound = func(_ context.Context, _ *cli.Command, name string) { unknown = name }
	args := os.Args
	if n := len(args); n > 1 && args[n-1] == "--generate-bash-completion" {
		// the flag of scripts installed from brickctl before urfave/cli/v3
		args = append(args[:n-1:n-1], "--generate-shell-completion")
	}
	err := app.Run(context.Background(), args)
	if err == nil && unknown != "" {
		err = usagef("%q is not a brickctl command; brickctl --help lists them", unknown)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "brickctl: %s\n", sentence(err))
	}
	os.Exit(exitCode(err))
}

// onUsageError turns a flag that does not parse into a usage error.
func onUsageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	return usagef("%v; %s --help lists the flags", err, cmd.FullName())
}
