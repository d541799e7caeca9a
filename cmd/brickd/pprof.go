package main

import (
	"net/http"
	"net/http/pprof"
	"runtime"
)

// pprofFlag serves Go's profiles beside the metrics (make bench PROFILE=1
// takes CPU and blocking profiles of brickd under load). Off by default:
// a profile shows what the brick is doing to anyone who can reach the
// metrics address, and the blocking profile costs a little on every
// blocking event while it is enabled.
var pprofFlag = boolFlag("pprof",
	"serve Go profiles (net/http/pprof) under /debug/pprof/ on the --metrics address, and record blocking and mutex events for them")

// withPprof is the handler of the metrics address: metrics (/metrics,
// /healthz, /readyz), and with --pprof the profiles under /debug/pprof/.
func withPprof(c *call, metrics http.Handler) http.Handler {
	if !c.Bool(pprofFlag.Name) {
		return metrics
	}
	// Every blocking event and one mutex contention in 10 are recorded:
	// the bench wants where brickd waits, at a cost that stays small.
	runtime.SetBlockProfileRate(1)
	runtime.SetMutexProfileFraction(10)
	mux := http.NewServeMux()
	mux.Handle("/", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
