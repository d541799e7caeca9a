package oscall

import (
	"os"
	"syscall"
)

// StopSignals are the signals a command stops cleanly on: Ctrl-C and
// the service manager's SIGTERM.
var StopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// ReloadSignal asks brickd to reload its key (SIGHUP).
var ReloadSignal os.Signal = syscall.SIGHUP
