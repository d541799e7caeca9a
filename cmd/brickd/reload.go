package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/internal/oscall"
	"github.com/brick-storage/brick/protocol"
)

// catchHangups takes SIGHUP from Go's default (exit at once, leaving the
// blocks mapped read-write reported unclean) for as long as brickd runs.
// A hangup that comes while brickd starts is handled once it serves.
func catchHangups() (hup chan os.Signal, stop func()) {
	hup = make(chan os.Signal, 1)
	signal.Notify(hup, oscall.ReloadSignal)
	return hup, func() { signal.Stop(hup) }
}

// reloadOnHangup re-reads what can change without a restart on every
// SIGHUP until ctx ends: the --auth-key file (key rotation; sessions that
// authenticated keep going). Everything else — flags, the config file,
// the listen address — takes a restart, and the log line says so.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, log *slog.Logger, srv *brick.Server, keyPath string) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(log, srv, keyPath)
		}
	}
}

func reload(log *slog.Logger, srv *brick.Server, keyPath string) {
	const rest = "other settings take a restart"
	if keyPath == "" {
		log.Info("SIGHUP: nothing to reload without --auth-key; still serving", "note", rest)
		return
	}
	key, err := protocol.ReadKeyFile(keyPath)
	if err == nil {
		err = srv.SetAuthKey(key)
	}
	if err != nil {
		log.Error("SIGHUP: cannot reload --auth-key; the current key stays in use", "auth_key", keyPath, "err", err)
		return
	}
	log.Info("SIGHUP: reloaded --auth-key; new sessions must prove it, authenticated sessions keep going", "auth_key", keyPath, "note", rest)
}
