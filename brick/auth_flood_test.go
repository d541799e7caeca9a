package brick_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

// TestUnauthenticatedFlood: with a key, peers that connect and never
// authenticate, many more than their quota, neither keep clients with the
// key out nor stay longer than the authentication deadline, and the
// warnings they cause are rate-limited.
func TestUnauthenticatedFlood(t *testing.T) {
	const (
		quota       = 8
		idle        = 6 * quota
		keyed       = 3 // also the session limit: any slot an idle peer held would lock one out
		authTimeout = 2 * time.Second
	)
	lb := &logBuffer{}
	e := newEnv(t, envOpts{authKey: testKey, maxSessions: keyed, maxUnauth: quota, authTimeout: authTimeout, log: lb})
	start := time.Now()
	hostport := strings.TrimPrefix(e.addr, "tcp://")
	hello := rawHello(protocol.FeatureAuth)
	var peers []verbs.QP
	t.Cleanup(func() {
		for _, qp := range peers {
			qp.Close()
		}
	})
	refused := 0
	for i := range idle {
		qp, err := soft.New().Dial(e.ctx, hostport, verbs.QPConfig{SendDepth: 1, RecvDepth: 1}, hello.Marshal())
		var rej *verbs.RejectedError
		switch {
		case errors.As(err, &rej):
			refused++
			continue
		case err != nil:
			t.Fatalf("unauthenticated peer %d: %v", i, err)
		}
		peers = append(peers, qp)
	}

	for i := range keyed {
		c, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: testKey})
		if err != nil {
			t.Fatalf("client %d with the key, among %d idle peers without: %v", i, idle, err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Status(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if refused > 0 {
		t.Fatalf("%d of %d unauthenticated peers refused; want the oldest closed to admit each", refused, idle)
	}
	// The quota holds: the first keyed client closed the oldest idle peer
	// to get in, the next ones took the slot each freed by authenticating;
	// the newest quota-1 idle peers are left.
	e.waitSessions(keyed + quota - 1)
	open := 0
	for _, qp := range peers {
		select {
		case <-qp.Done():
		default:
			open++
		}
	}
	if open == 0 {
		t.Fatal("every idle peer was closed before its authentication deadline")
	}

	// The rest are dropped at the deadline; the keyed sessions stay.
	for i, qp := range peers {
		select {
		case <-qp.Done():
		case <-e.ctx.Done():
			t.Fatalf("idle peer %d kept its session past the %v authentication deadline", i, authTimeout)
		}
	}
	e.waitSessions(keyed)
	e.waitLog(lb, "session ended before authentication", "did not authenticate in time")
	elapsed := time.Since(start)

	// Every idle peer ended a session with a warning worth logging; at
	// most one line of each kind a second is.
	warns, suppressed := 0, false
	for _, line := range strings.Split(lb.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			warns++
			suppressed = suppressed || strings.Contains(line, "suppressed_since_last_line=")
		}
	}
	if limit := 2 * (int(elapsed/time.Second) + 1); warns > limit {
		t.Fatalf("%d warnings in %v for %d idle peers, want at most %d:\n%s", warns, elapsed, idle, limit, lb.String())
	}
	if !suppressed {
		t.Fatalf("no warning line counts the ones it stood for:\n%s", lb.String())
	}
}
