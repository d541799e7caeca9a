// Command brickctl administers a brick and moves data in and out of it.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

var version = "dev"

func main() {
	app := &cli.App{
		Name:    "brickctl",
		Usage:   "administer a brick and read or write its blocks",
		Version: version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "tcp://127.0.0.1:7470", EnvVars: []string{"BRICK_ADDR"},
				Usage: "the brick's address: tcp://HOST:PORT or rdma://HOST:PORT"},
			&cli.BoolFlag{Name: "json", EnvVars: []string{"BRICK_JSON"}, Usage: "print results as JSON"},
			&cli.DurationFlag{Name: "timeout", Value: defaultTimeout, EnvVars: []string{"BRICK_TIMEOUT"},
				Usage: "give up on the brick after this long"},
			&cli.StringFlag{Name: "auth-key", EnvVars: []string{"BRICK_AUTH_KEY_FILE"}, TakesFile: true,
				Usage: "file holding the brick's pre-shared key (mode 0600); or put the key itself in BRICK_AUTH_KEY"},
		},
		Commands: []*cli.Command{
			allocCommand(), freeCommand(), mapCommand(), unmapCommand(),
			listCommand(), putCommand(), getCommand(), statusCommand(),
			sessionsCommand(), revokeCommand(),
			benchCommand(), completionCommand(),
		},
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
	}
	// A mistake on the command line is one sentence and exit 2, not the
	// help text: --help shows that.
	app.OnUsageError = onUsageError
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	var unknown string
	app.CommandNotFound = func(_ *cli.Context, name string) { unknown = name }
	err := app.Run(os.Args)
	if err == nil && unknown != "" {
		err = usagef("%q is not a brickctl command; brickctl --help lists them", unknown)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "brickctl: %s\n", sentence(err))
	}
	os.Exit(exitCode(err))
}

// onUsageError turns a flag that does not parse into a usage error.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := c.App.Name
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		name += " " + c.Command.Name
	}
	return usagef("%v; %s --help lists the flags", err, name)
}
